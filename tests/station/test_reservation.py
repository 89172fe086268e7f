"""Reservation (OCPP 1.6 §3.11, §5.4 CancelReservation, §5.13 ReserveNow)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from feature_steps import (
    AC_1PHASE,
    AC_3PHASE,
    CORE_ONLY,
    DC_ALL,
    badge,
    booted,
    calls,
    csms_call,
    plug_in,
    refused_with,
    start_charging,
    status_of,
    unplug,
)
from harness import Bench

from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import ChargePointStatus
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.payloads.core import ChangeAvailabilityReq, RemoteStartTransactionReq
from fleetsim.ocpp.payloads.reservation import CancelReservationReq, ReserveNowReq


def reserve(bench: Bench, connector_id: int, *, reservation_id: int = 1, id_tag: str = "TAG-R",
            minutes: float = 15, parent: str | None = None) -> str:
    request = ReserveNowReq(connector_id=connector_id, expiry_date=bench.timebase.wall(bench.now_s)
                            + timedelta(minutes=minutes), id_tag=id_tag, reservation_id=reservation_id,
                            parent_id_tag=parent)
    return status_of(csms_call(bench, request))


def status(bench: Bench, connector_id: int) -> str:
    return str(bench.station.connectors[connector_id - 1].status)


def reported(bench: Bench, connector_id: int) -> list[str]:
    return bench.statuses(connector_id)


def test_a_reserved_connector_waits_for_its_id_tag_and_the_transaction_names_the_reservation() -> None:
    bench = booted(AC_3PHASE)
    assert reserve(bench, 1, reservation_id=42) == "Accepted"
    assert reported(bench, 1)[-1] == "Reserved"

    plug_in(bench, 1)
    badge(bench, 1, "SOMEONE-ELSE")
    bench.run_for(5)
    assert bench.station.connectors[0].transaction is None
    assert bench.station.stats.counters["session.reserved_for_other"] == 1

    badge(bench, 1, "TAG-R")
    bench.run_for(5)
    (start,) = [p for _, p in calls(bench, "StartTransaction")]
    assert start.id_tag == "TAG-R" and start.reservation_id == 42
    assert bench.station.connectors[0].reservation_id is None, "§5.13: the reservation is used"
    unplug(bench, 1)
    assert status(bench, 1) == "Available"


def test_an_unplugged_ev_leaves_the_connector_reserved() -> None:
    bench = booted(AC_3PHASE)
    reserve(bench, 1)
    plug_in(bench, 1)
    assert status(bench, 1) == "Preparing"
    unplug(bench, 1)
    assert status(bench, 1) == "Reserved"


def test_a_reservation_ends_at_its_expiry_date() -> None:
    bench = booted(AC_3PHASE)
    reserved_at = bench.now_s
    assert reserve(bench, 2, minutes=10) == "Accepted"
    bench.run_for(590)
    assert status(bench, 2) == "Reserved"
    bench.run_for(20)
    assert status(bench, 2) == "Available"
    freed_at = [at for at, p in calls(bench, "StatusNotification") if p.connector_id == 2][-1]
    assert freed_at == pytest.approx(reserved_at + 600, abs=0.1)
    start_charging(bench, 2, id_tag="ANYONE")
    assert bench.station.connectors[1].transaction is not None


def test_cancel_reservation() -> None:
    bench = booted(AC_3PHASE)
    reserve(bench, 1, reservation_id=7)
    assert status_of(csms_call(bench, CancelReservationReq(reservation_id=8))) == "Rejected"
    assert status_of(csms_call(bench, CancelReservationReq(reservation_id=7))) == "Accepted"
    assert reported(bench, 1)[-2:] == ["Reserved", "Available"]
    assert status_of(csms_call(bench, CancelReservationReq(reservation_id=7))) == "Rejected"


def test_the_same_reservation_id_replaces_the_reservation() -> None:
    bench = booted(AC_3PHASE)
    reserve(bench, 1, reservation_id=5, id_tag="FIRST")
    assert reserve(bench, 2, reservation_id=5, id_tag="SECOND") == "Accepted"
    assert (status(bench, 1), status(bench, 2)) == ("Available", "Reserved")
    assert bench.station.connectors[1].reserved_id_tag == "SECOND"
    assert reserve(bench, 2, reservation_id=5, id_tag="THIRD", minutes=30) == "Accepted"
    assert reported(bench, 2)[-1] == "Reserved" and bench.station.connectors[1].reserved_id_tag == "THIRD"


def test_what_a_connector_answers_when_it_cannot_be_reserved() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    assert reserve(bench, 1) == "Occupied"
    plug_in(bench, 2)
    assert reserve(bench, 2) == "Occupied"  # Preparing
    unplug(bench, 2)
    reserve(bench, 2, reservation_id=9)
    assert reserve(bench, 2, reservation_id=10) == "Occupied", "reserved for another reservation"
    assert reserve(bench, 3) == "Rejected", "no such connector"
    assert reserve(bench, 2, reservation_id=11, minutes=-1) == "Rejected", "expired already"


def test_faulted_and_unavailable_connectors() -> None:
    bench = booted(AC_3PHASE)
    connector = bench.station.connectors[0]
    bench.act(lambda now: bench.station.set_status(connector, ChargePointStatus.FAULTED, now))
    assert reserve(bench, 1) == "Faulted"
    csms_call(bench, ChangeAvailabilityReq(connector_id=2, type="Inoperative"))
    assert reserve(bench, 2) == "Unavailable"


def test_connector_zero_only_where_the_certificate_says_so() -> None:
    assert reserve(booted(DC_ALL), 0) == "Rejected"  # R-1 not certified
    bench = booted(AC_3PHASE)  # the whole station can be reserved
    assert reserve(bench, 0, reservation_id=3) == "Accepted"
    start_charging(bench, 1, id_tag="OTHER-1")
    assert bench.station.connectors[0].transaction is not None, "a connector is still left for the reservation"
    plug_in(bench, 2)
    badge(bench, 2, "OTHER-2")
    bench.run_for(5)
    assert bench.station.connectors[1].transaction is None, "the last free connector is kept"
    badge(bench, 2, "TAG-R")
    bench.run_for(5)
    starts = {p.id_tag: p.reservation_id for _, p in calls(bench, "StartTransaction")}
    assert starts == {"OTHER-1": None, "TAG-R": 3}


def test_a_reservation_of_the_whole_station_answers_for_all_connectors() -> None:
    bench = booted(AC_3PHASE)
    start_charging(bench, 1)
    start_charging(bench, 2, id_tag="TAG-2")
    assert reserve(bench, 0) == "Occupied"


def test_a_reservation_for_a_parent_id_tag_admits_its_children() -> None:
    bench = booted(AC_3PHASE)
    bench.station.local_list["CHILD"] = IdTagInfo(status="Accepted", parent_id_tag="FLEET")
    reserve(bench, 1, reservation_id=4, id_tag="DRIVER", parent="FLEET")
    start_charging(bench, 1, id_tag="CHILD")
    (start,) = [p for _, p in calls(bench, "StartTransaction")]
    assert start.id_tag == "CHILD" and start.reservation_id == 4


def test_remote_start_on_a_reserved_connector_only_for_the_reserved_id_tag() -> None:
    bench = booted(AC_3PHASE)
    reserve(bench, 1, reservation_id=6)
    other = RemoteStartTransactionReq(connector_id=1, id_tag="OTHER")
    assert status_of(csms_call(bench, other)) == "Rejected"
    assert status_of(csms_call(bench, RemoteStartTransactionReq(connector_id=1, id_tag="TAG-R"))) == "Accepted"
    assert status(bench, 1) == "Preparing"
    plug_in(bench, 1)
    bench.run_for(5)
    (start,) = [p for _, p in calls(bench, "StartTransaction")]
    assert start.reservation_id == 6


@pytest.mark.parametrize("model_id", [CORE_ONLY, AC_1PHASE])
@pytest.mark.parametrize("kind", ["ReserveNow", "CancelReservation"])
def test_a_model_without_reservations_answers_not_supported(model_id: str, kind: str) -> None:
    bench = booted(model_id)
    request = (ReserveNowReq(connector_id=1, expiry_date=bench.timebase.wall(bench.now_s + 600), id_tag="T",
                             reservation_id=1) if kind == "ReserveNow" else CancelReservationReq(reservation_id=1))
    assert refused_with(bench, request) == ErrorCode.NOT_SUPPORTED
