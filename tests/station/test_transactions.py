"""Transactions (OCPP 1.6 §3.5, §4.1 Authorize, §4.8 StartTransaction,
§4.10 StopTransaction): who starts and stops them, with which meter readings,
and what the station does with the CSMS's verdict on the idTag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from core_steps import (
    AC_3PHASE,
    CORE_ONLY,
    DC_2CCS,
    badge,
    booted,
    calls,
    configure,
    meter_values,
    number,
    plug_in,
    start_charging,
    unplug,
)
from hypothesis import given
from hypothesis import strategies as st

from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import AuthorizationStatus, ReadingContext
from fleetsim.ocpp.payloads.core import AuthorizeConf, StartTransactionConf
from fleetsim.station.connector import Sample, Transaction
from fleetsim.station.measurands import DEFAULT_STOP_METER_VALUES
from fleetsim.station.power import Ev

SMALL_AC_EV = Ev(battery_kwh=10.0, soc_start=0.5, max_ac_kw=11.0)
REGISTER = "Energy.Active.Import.Register"


def test_plug_in_and_badge_authorize_then_start_a_transaction() -> None:
    bench = booted(AC_3PHASE)
    t0 = bench.now_s
    plug_in(bench, 1)
    bench.run_for(5)
    badge(bench, 1, "TAG-1")
    badged_at = bench.now_s
    bench.run_for(5)

    # TC_003_CS: Preparing, Authorize, then StartTransaction and Charging in either order.
    actions = bench.sent_actions(t0)
    assert actions[:2] == ["StatusNotification", "Authorize"]
    assert sorted(actions[2:]) == ["StartTransaction", "StatusNotification"]
    (_, authorize), = calls(bench, "Authorize")
    assert authorize.id_tag == "TAG-1"
    (started_at, start), = calls(bench, "StartTransaction")
    assert (start.connector_id, start.id_tag, start.reservation_id) == (1, "TAG-1", None)
    assert start.meter_start == 0
    # §6.45 timestamp: when the transaction started, i.e. when authorization came back.
    assert start.timestamp == bench.timebase.wall(badged_at + bench.latency_s)
    assert started_at >= badged_at
    assert bench.statuses(1)[-1] == "Charging"


def test_ev_full_then_unplugged_stops_the_transaction_with_reason_ev_disconnected() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1, "TAG-1", SMALL_AC_EV)
    bench.run_for(3600)
    assert bench.statuses(1)[-1] == "SuspendedEV"
    assert calls(bench, "StopTransaction") == []
    unplug(bench, 1)
    unplugged_at = bench.now_s
    bench.run_for(5)

    (_, start), = calls(bench, "StartTransaction")
    (_, stop), = calls(bench, "StopTransaction")
    assert bench.central.state("CP-1").transactions == {}, "the CSMS saw it closed"
    assert stop.transaction_id == 1  # the CSMS's id (first_transaction_id)
    assert str(stop.reason) == "EVDisconnected"
    assert stop.id_tag is None, "the station stopped it, no idTag presented"
    assert stop.timestamp == bench.timebase.wall(unplugged_at)
    # 10 kWh battery from 50 %: about 5 kWh, never more than the battery takes
    assert 4_900 <= stop.meter_stop - start.meter_start <= 5_200
    assert bench.statuses(1)[-1] == "Available"


def test_badging_again_stops_locally_with_the_default_reason_then_finishing() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1, "TAG-1")
    bench.run_for(600)
    badge(bench, 1, "TAG-1")
    bench.run_for(5)

    (_, stop), = calls(bench, "StopTransaction")
    # §4.10 / §7.32: a normal end "the Reason element MAY be omitted and the
    # Reason SHOULD be assumed 'Local'".
    assert stop.reason is None
    assert stop.id_tag == "TAG-1"
    assert calls(bench, "Authorize")[-1][0] < calls(bench, "StartTransaction")[0][0], "no Authorize to stop"
    assert bench.statuses(1)[-1] == "Finishing"
    unplug(bench, 1)
    bench.run_for(5)
    assert bench.statuses(1)[-1] == "Available"
    assert len(calls(bench, "StopTransaction")) == 1, "unplugging after the stop stops nothing more"


def test_another_tag_cannot_stop_the_transaction() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1, "TAG-1")
    badge(bench, 1, "SOMEONE-ELSE")
    bench.run_for(60)

    assert calls(bench, "StopTransaction") == []
    assert bench.statuses(1)[-1] == "Charging"


def test_meter_start_and_stop_agree_with_the_register_in_meter_values() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1, "TAG-1")
    bench.run_for(1800)
    unplug(bench, 1)
    bench.run_for(60)
    start_charging(bench, 1, "TAG-2")
    bench.run_for(900)
    badge(bench, 1, "TAG-2")
    bench.run_for(60)

    starts = [p for _, p in calls(bench, "StartTransaction")]
    stops = [p for _, p in calls(bench, "StopTransaction")]
    registers = [number(p.meter_value[0].sampled_value, REGISTER) for _, p in meter_values(bench, connector_id=1)]
    assert len(registers) >= 40
    assert registers == sorted(registers), "Energy.Active.Import.Register only grows"
    first, second = zip(starts, stops, strict=True)
    for start, stop in (first, second):
        during = [r for r in registers if start.meter_start <= r <= stop.meter_stop]
        assert during, "meter values of the transaction lie between its start and stop readings"
    assert second[0].meter_start == first[1].meter_stop, "the register carries over to the next transaction"
    assert first[1].meter_stop - first[0].meter_start == pytest.approx(11_000 * 0.5, rel=0.02)  # 30 min at 11 kW


def test_stop_transaction_carries_the_stop_txn_sampled_data() -> None:
    # §9.1.29 StopTxnSampledData / §6.49 transactionData.
    bench = booted(AC_3PHASE)
    assert configure(bench, "StopTxnSampledData", "Energy.Active.Import.Register,Power.Active.Import") == "Accepted"
    start_charging(bench, 1, "TAG-1")
    bench.run_for(300)
    badge(bench, 1, "TAG-1")
    bench.run_for(5)

    (_, start), = calls(bench, "StartTransaction")
    (_, stop), = calls(bench, "StopTransaction")
    data = stop.transaction_data
    contexts = [str(entry.sampled_value[0].context) for entry in data]
    assert contexts[0] == ReadingContext.TRANSACTION_BEGIN
    assert contexts[-1] == ReadingContext.TRANSACTION_END
    assert set(contexts[1:-1]) == {ReadingContext.SAMPLE_PERIODIC}
    assert len(contexts) == 2 + 5, "one periodic sample a minute for five minutes"
    for entry in data:
        assert {str(v.measurand) for v in entry.sampled_value} == {REGISTER, "Power.Active.Import"}
    assert number(data[0].sampled_value, REGISTER) == start.meter_start
    assert number(data[-1].sampled_value, REGISTER) == stop.meter_stop
    assert [entry.timestamp for entry in data] == sorted(entry.timestamp for entry in data)


def test_no_transaction_data_when_stop_txn_sampled_data_is_empty() -> None:
    bench = booted(AC_3PHASE)  # StopTxnSampledData "" by default (§9.1.29: only when asked)
    start_charging(bench, 1)
    bench.run_for(300)
    unplug(bench, 1)
    bench.run_for(5)

    (_, stop), = calls(bench, "StopTransaction")
    assert stop.transaction_data is None


# ---------------------------------------------------------------- what StopTransaction carries, bounded


def _carried_before(samples: list[Sample], end: Sample | None, limit: int) -> list[Sample]:
    """StopTransaction's samples as the station chose them when it kept every
    sample of the transaction (StopTransactionMaxMeterValues ``limit``)."""
    chosen = [*samples, end] if end is not None else list(samples)
    if len(chosen) > limit:
        chosen = chosen[: max(1, limit - 1)] + chosen[-1:]
    return chosen[:limit]


def _sample(index: int) -> Sample:
    """A sample told apart by its time: the index-th second of the transaction."""
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=index), []


def _transaction() -> Transaction:
    return Transaction("TAG-1", 0, datetime(2026, 1, 1, tzinfo=UTC), 0.0, None, False)


@given(taken=st.integers(0, 60), limit=st.integers(1, 30), end=st.booleans())
def test_a_transaction_keeps_what_stop_transaction_carries_and_no_more(taken: int, limit: int, end: bool) -> None:
    transaction = _transaction()
    for index in range(taken):
        transaction.keep_sample(_sample(index), limit)
        assert len(transaction.samples) <= max(1, limit - 1)
    carried = transaction.stop_samples(_sample(-1) if end else None, limit)
    assert carried == _carried_before([_sample(i) for i in range(taken)], _sample(-1) if end else None, limit)


@given(taken=st.integers(0, 60), limits=st.tuples(st.integers(1, 30), st.integers(1, 30)), end=st.booleans())
def test_a_limit_lowered_during_the_transaction_carries_what_it_did(taken: int, limits: tuple[int, int],
                                                                     end: bool) -> None:
    high, low = max(limits), min(limits)
    transaction = _transaction()
    for index in range(taken):
        transaction.keep_sample(_sample(index), high if index < taken // 2 else low)
    carried = transaction.stop_samples(_sample(-1) if end else None, low)
    assert carried == _carried_before([_sample(i) for i in range(taken)], _sample(-1) if end else None, low)


def test_hours_of_samples_every_second_keep_a_thousand_for_stop_transaction() -> None:
    # StopTransactionMaxMeterValues absent: StopTransaction carries at most
    # 1,000 samples (the first 999 and the last), and the station keeps no
    # more than that however long the transaction (here 3 h at 1 s).
    bench = booted(AC_3PHASE)
    config = bench.station.config
    config.set("MeterValuesSampledData", "")  # no MeterValues.req: only what StopTransaction carries
    config.set("StopTxnSampledData", REGISTER)
    config.set("MeterValueSampleInterval", "1")
    start_charging(bench, 1)
    (_, start), = calls(bench, "StartTransaction")
    bench.run_for(3 * 3600)
    transaction = bench.station.connectors[0].transaction
    assert transaction is not None and len(transaction.samples) == DEFAULT_STOP_METER_VALUES - 1
    unplug(bench, 1)
    bench.run_for(5)

    (_, stop), = calls(bench, "StopTransaction")
    data = stop.transaction_data
    assert len(data) == DEFAULT_STOP_METER_VALUES
    contexts = [str(entry.sampled_value[0].context) for entry in data]
    assert contexts == ["Transaction.Begin"] + ["Sample.Periodic"] * 998 + ["Transaction.End"]
    offsets = [(entry.timestamp - start.timestamp).total_seconds() for entry in data[:-1]]
    assert offsets == pytest.approx([float(n) for n in range(999)], abs=0.01), "the first ones, one a second"
    assert number(data[-1].sampled_value, REGISTER) == stop.meter_stop


def test_stop_transaction_max_meter_values_keeps_the_first_and_the_last() -> None:
    bench = booted(AC_3PHASE)
    config = bench.station.config
    config.set("StopTxnSampledData", REGISTER)
    config.set("StopTransactionMaxMeterValues", "4")
    start_charging(bench, 1)
    bench.run_for(600)
    transaction = bench.station.connectors[0].transaction
    assert transaction is not None and len(transaction.samples) == 3
    unplug(bench, 1)
    bench.run_for(5)

    (_, stop), = calls(bench, "StopTransaction")
    contexts = [str(entry.sampled_value[0].context) for entry in stop.transaction_data]
    assert contexts == ["Transaction.Begin", "Sample.Periodic", "Sample.Periodic", "Transaction.End"]


def test_an_invalid_tag_starts_no_transaction() -> None:
    bench = booted(AC_3PHASE, csms=CsmsConfig(id_tags={"BAD": AuthorizationStatus.INVALID}))
    plug_in(bench, 1)
    badge(bench, 1, "BAD")
    bench.run_for(120)

    assert len(calls(bench, "Authorize")) == 1
    assert calls(bench, "StartTransaction") == []
    assert bench.statuses(1) == ["Available", "Preparing"]
    assert bench.station.connectors[0].register_wh == 0, "no energy without a transaction"
    unplug(bench, 1)
    bench.run_for(5)
    assert bench.statuses(1)[-1] == "Available"


def test_start_transaction_conf_invalid_stops_it_as_deauthorized() -> None:
    # §3.5.x / §9.1.26 StopTransactionOnInvalidId true: the CSMS accepted the
    # Authorize but refuses the tag in StartTransaction.conf.
    bench = booted(AC_3PHASE, csms=CsmsConfig(id_tags={"BAD": AuthorizationStatus.INVALID}))
    accepted = AuthorizeConf(id_tag_info=IdTagInfo(status=AuthorizationStatus.ACCEPTED))
    bench.answer_override = lambda call: accepted if call.action == "Authorize" else None
    start_charging(bench, 1, "BAD")
    bench.run_for(60)

    (_, start), = calls(bench, "StartTransaction")
    (_, stop), = calls(bench, "StopTransaction")
    assert str(stop.reason) == "DeAuthorized"
    assert stop.transaction_id == 1
    assert bench.statuses(1)[-2:] == ["Charging", "Finishing"]
    assert stop.meter_stop - start.meter_start < 10, "stopped within milliseconds of starting"


def test_start_transaction_conf_invalid_without_stopping_suspends_energy_delivery() -> None:
    # §3.5.x: StopTransactionOnInvalidId false -> "only stop energy delivery".
    bench = booted(CORE_ONLY)  # declares StopTransactionOnInvalidId FALSE
    bench.answer_override = lambda call: (
        StartTransactionConf(id_tag_info=IdTagInfo(status=AuthorizationStatus.BLOCKED), transaction_id=42)
        if call.action == "StartTransaction" else None
    )
    start_charging(bench, 1, "TAG-1", settle_s=30.0)
    energy_then = bench.station.connectors[0].meter_wh()
    bench.run_for(600)

    assert calls(bench, "StopTransaction") == []
    assert bench.statuses(1)[-1] == "SuspendedEVSE"  # C5
    assert bench.station.connectors[0].meter_wh() == energy_then


def test_two_connectors_run_two_transactions_with_their_own_ids() -> None:
    bench = booted(DC_2CCS, csms=CsmsConfig(first_transaction_id=700))
    start_charging(bench, 1, "TAG-1")
    start_charging(bench, 2, "TAG-2")
    bench.run_for(600)
    unplug(bench, 2)
    unplug(bench, 1)
    bench.run_for(5)

    starts = {p.connector_id: p.id_tag for _, p in calls(bench, "StartTransaction")}
    assert starts == {1: "TAG-1", 2: "TAG-2"}
    assert [p.transaction_id for _, p in calls(bench, "StopTransaction")] == [701, 700]
    by_connector = {p.connector_id: p.transaction_id for _, p in meter_values(bench)}
    assert by_connector == {1: 700, 2: 701}


def test_a_plugged_in_connector_without_a_badge_starts_nothing() -> None:
    bench = booted(AC_3PHASE)
    plug_in(bench, 1)
    bench.run_for(3600)

    assert calls(bench, "StartTransaction") == []
    assert bench.station.connectors[0].register_wh == 0


def test_start_transaction_conf_updates_the_authorization_cache() -> None:
    # §4.8: "If Charge Point has implemented an Authorization Cache, then upon
    # receipt of a StartTransaction.conf PDU the Charge Point SHALL update the
    # cache entry ... with the IdTagInfo value from the response".
    bench = booted(AC_3PHASE)  # AuthorizationCacheEnabled true
    assert configure(bench, "LocalPreAuthorize", "true") == "Accepted"
    start_charging(bench, 1, "TAG-1")  # Authorize.conf Accepted: cached
    unplug(bench, 1)
    blocked = StartTransactionConf(id_tag_info=IdTagInfo(status=AuthorizationStatus.BLOCKED), transaction_id=9)
    bench.answer_override = lambda call: blocked if call.action == "StartTransaction" else None
    start_charging(bench, 1, "TAG-1")  # pre-authorized from the cache; the CSMS says Blocked
    unplug(bench, 1)
    bench.answer_override = None
    starts_before = len(calls(bench, "StartTransaction"))
    start_charging(bench, 1, "TAG-1")

    # Blocked in the cache: no local pre-authorization, the CSMS is asked again.
    assert len(calls(bench, "StartTransaction")) == starts_before + 1
    assert len(calls(bench, "Authorize")) == 2
