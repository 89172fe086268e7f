"""OCPP 1.6 §5.11 RemoteStartTransaction on a connector that cannot start a
transaction: Faulted or Unavailable (the inoperative statuses, §7.7).  The
station answers Rejected and starts nothing; a connector that becomes
inoperative after an Accepted starts nothing either, nor does a later plug-in
pick up the dropped authorization."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from core_steps import AC_3PHASE, booted, calls, configure, csms_call, plug_in
from harness import Bench

from fleetsim.ocpp.enums import ChargePointErrorCode
from fleetsim.ocpp.payloads.core import ChangeAvailabilityReq, RemoteStartTransactionReq
from fleetsim.station.faults import connector_fault, inject


def fault(bench: Bench, connector_id: int, recover_after_s: float = 300.0) -> None:
    station = bench.station
    bench.act(lambda now: inject(station, partial(connector_fault, station, connector_id,
                                                  ChargePointErrorCode.GROUND_FAILURE, recover_after_s=recover_after_s),
                                 now))


def unavailable(bench: Bench, connector_id: int) -> None:
    answer = csms_call(bench, ChangeAvailabilityReq(connector_id=connector_id, type="Inoperative"))
    assert str(answer.status) == "Accepted"


def remote_start(bench: Bench, connector_id: int | None, id_tag: str = "TAG-R") -> str:
    answer = csms_call(bench, RemoteStartTransactionReq(id_tag=id_tag, connector_id=connector_id))
    return str(answer.status)


def started_on(bench: Bench) -> list[int]:
    return [p.connector_id for _, p in calls(bench, "StartTransaction")]


@pytest.mark.parametrize("make_inoperative", [fault, unavailable], ids=["Faulted", "Unavailable"])
def test_a_remote_start_on_an_inoperative_connector_is_rejected_and_starts_nothing(
        make_inoperative: Callable[[Bench, int], None]) -> None:
    bench = booted(AC_3PHASE)
    plug_in(bench, 1)
    make_inoperative(bench, 1)
    assert remote_start(bench, 1) == "Rejected"
    bench.run_for(120)
    assert started_on(bench) == []
    assert bench.station.stats.counters["csms_call.RemoteStartTransaction.Rejected"] == 1


def test_without_a_connector_id_the_remote_start_takes_an_operative_connector() -> None:
    bench = booted(AC_3PHASE)
    fault(bench, 1)
    assert remote_start(bench, None) == "Accepted"
    plug_in(bench, 2)
    bench.run_for(30)
    assert started_on(bench) == [2]


def test_a_whole_station_made_unavailable_rejects_every_remote_start() -> None:
    bench = booted(AC_3PHASE)
    plug_in(bench, 1)
    unavailable(bench, 0)
    assert remote_start(bench, None) == "Rejected"
    assert remote_start(bench, 1) == "Rejected"
    bench.run_for(120)
    assert started_on(bench) == []


@pytest.mark.parametrize("make_inoperative", [fault, unavailable], ids=["Faulted", "Unavailable"])
def test_a_connector_inoperative_between_the_accepted_and_the_start_starts_nothing(
        make_inoperative: Callable[[Bench, int], None]) -> None:
    bench = booted(AC_3PHASE, reaction_delays=True)  # the start follows the model's measured delay
    plug_in(bench, 1)
    bench.run_for(5)
    uid = bench.send_call(RemoteStartTransactionReq(id_tag="TAG-R", connector_id=1))
    while uid not in bench.replies:
        bench.run_for(0.001)
    assert str(bench.reply(uid).status) == "Accepted"
    assert started_on(bench) == [], "the start comes after the answer (§5.11)"
    make_inoperative(bench, 1)
    bench.run_for(120)
    assert started_on(bench) == []
    assert bench.statuses(1)[-1] in ("Faulted", "Unavailable"), "still inoperative: nothing charged over it"


def test_an_accepted_remote_start_waiting_for_the_ev_ends_with_a_fault() -> None:
    bench = booted(AC_3PHASE)
    assert remote_start(bench, 1) == "Accepted"  # no EV yet: Preparing, waiting for the plug
    assert bench.statuses(1)[-1] == "Preparing"
    fault(bench, 1, recover_after_s=20)
    bench.run_for(30)
    assert bench.statuses(1)[-2:] == ["Faulted", "Available"]
    plug_in(bench, 1)  # after the recovery: a new session, not the remote start of before
    bench.run_for(120)
    assert started_on(bench) == []
    assert bench.statuses(1)[-1] == "Preparing"


def test_an_accepted_remote_start_waiting_for_the_ev_ends_with_change_availability() -> None:
    bench = booted(AC_3PHASE)
    assert remote_start(bench, 1) == "Accepted"
    unavailable(bench, 1)
    answer = csms_call(bench, ChangeAvailabilityReq(connector_id=1, type="Operative"))
    assert str(answer.status) == "Accepted"
    plug_in(bench, 1)
    bench.run_for(120)
    assert started_on(bench) == []


def test_a_fault_while_the_remote_start_is_authorized_starts_nothing() -> None:
    bench = booted(AC_3PHASE)
    assert configure(bench, "AuthorizeRemoteTxRequests", "true") == "Accepted"
    plug_in(bench, 1)
    uid = bench.send_call(RemoteStartTransactionReq(id_tag="TAG-R", connector_id=1))
    while "Authorize" not in bench.sent_actions():
        bench.run_for(0.0001)
    assert str(bench.reply(uid).status) == "Accepted"
    fault(bench, 1)  # before the CSMS's Authorize.conf arrives
    bench.run_for(120)
    assert started_on(bench) == []
    assert bench.station.stats.counters["remote_start.connector_unavailable"] == 1
