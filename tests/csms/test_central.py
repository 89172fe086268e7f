"""The Central System's logic, without a network and without a clock."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from csms_helpers import NOW, sample_requests, schema_errors

from fleetsim.csms.central import CentralSystem, Refusal
from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.actions import ACTIONS, Initiator
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.enums import (
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    DataTransferStatus,
    RegistrationStatus,
    ReservationStatus,
    UpdateStatus,
)
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import Call
from fleetsim.ocpp.payloads import core, local_auth, reservation

A = AuthorizationStatus


def call(payload: Payload, uid: str = "1") -> Call:
    return Call(uid, _action_of(payload), payload)


def _action_of(payload: Payload) -> str:
    return next(name for name, spec in ACTIONS.items() if spec.request is type(payload))


def start(central: CentralSystem, tag: str, cp: str = "CP1") -> core.StartTransactionConf:
    request = core.StartTransactionReq(connector_id=1, id_tag=tag, meter_start=0, timestamp=NOW)
    answer = central.handle(cp, call(request), NOW)
    assert isinstance(answer, core.StartTransactionConf)
    return answer


def stop(central: CentralSystem, transaction_id: int, tag: str | None = "T", cp: str = "CP1") -> Payload | Refusal:
    request = core.StopTransactionReq(id_tag=tag, meter_stop=5, timestamp=NOW, transaction_id=transaction_id)
    return central.handle(cp, call(request), NOW)


def authorize(central: CentralSystem, tag: str) -> AuthorizationStatus:
    answer = central.handle("CP1", call(core.AuthorizeReq(id_tag=tag)), NOW)
    assert isinstance(answer, core.AuthorizeConf)
    return answer.id_tag_info.status


CHARGE_POINT_ACTIONS = sorted(name for name, spec in ACTIONS.items() if spec.initiator is not Initiator.CENTRAL_SYSTEM)


def test_the_samples_cover_every_charge_point_initiated_action() -> None:
    assert sorted(sample_requests()) == CHARGE_POINT_ACTIONS
    for action, request in sample_requests().items():
        assert schema_errors(action, request) == [], action


@pytest.mark.parametrize("action", CHARGE_POINT_ACTIONS)
def test_every_charge_point_call_gets_a_schema_valid_confirmation(action: str) -> None:
    answer = CentralSystem(CsmsConfig()).handle("CP1", call(sample_requests()[action]), NOW)
    assert isinstance(answer, ACTIONS[action].confirmation)
    assert schema_errors(f"{action}Response", answer) == []


def test_boot_notification_answers_the_configured_status_and_interval() -> None:
    answer = CentralSystem(CsmsConfig(heartbeat_interval_s=42)).handle(
        "CP9", call(sample_requests()["BootNotification"]), NOW
    )
    assert answer == core.BootNotificationConf(status=RegistrationStatus.ACCEPTED, current_time=NOW, interval=42)


@pytest.mark.parametrize("status", [RegistrationStatus.PENDING, RegistrationStatus.REJECTED])
def test_a_boot_not_accepted_gets_the_retry_interval(status: RegistrationStatus) -> None:
    # OCPP 1.6 §6.4: when not Accepted, interval is the wait before the next boot.
    central = CentralSystem(CsmsConfig(boot_status=status, heartbeat_interval_s=300, boot_retry_interval_s=17))
    answer = central.handle("CP1", call(sample_requests()["BootNotification"]), NOW)
    assert isinstance(answer, core.BootNotificationConf)
    assert (answer.status, answer.interval) == (status, 17)
    assert central.state("CP1").registration is status


def test_heartbeat_answers_the_time_it_is_given() -> None:
    later = NOW + timedelta(hours=5)
    assert CentralSystem(CsmsConfig()).handle("X", call(core.HeartbeatReq()), later) == core.HeartbeatConf(
        current_time=later
    )


def test_authorize_uses_the_id_tag_table_case_insensitively_and_the_default() -> None:
    table = {"good": A.ACCEPTED, "BAD": A.INVALID, "Blocked1": A.BLOCKED, "old": A.EXPIRED}
    central = CentralSystem(CsmsConfig(id_tags=table, unknown_id_tag=A.INVALID))
    assert [authorize(central, t) for t in ("GOOD", "bad", "blocked1", "OLD", "nobody")] == [
        A.ACCEPTED,
        A.INVALID,
        A.BLOCKED,
        A.EXPIRED,
        A.INVALID,
    ]
    assert authorize(CentralSystem(CsmsConfig()), "anyone") is A.ACCEPTED  # the default default


def test_concurrent_tx_only_when_configured_and_only_while_the_transaction_runs() -> None:
    central = CentralSystem(CsmsConfig(concurrent_tx=True))
    first = start(central, "tag")
    assert authorize(central, "TAG") is A.CONCURRENT_TX
    assert start(central, "tag", cp="CP2").id_tag_info.status is A.CONCURRENT_TX
    # StopTransaction's idTagInfo is about the tag itself, not concurrency.
    answer = stop(central, first.transaction_id, tag="tag")
    assert isinstance(answer, core.StopTransactionConf) and answer.id_tag_info is not None
    assert answer.id_tag_info.status is A.ACCEPTED
    assert authorize(central, "tag") is A.CONCURRENT_TX  # CP2's transaction still runs
    (second_id,) = central.state("CP2").transactions
    stop(central, second_id, cp="CP2")
    assert authorize(central, "tag") is A.ACCEPTED
    plain = CentralSystem(CsmsConfig())
    start(plain, "tag")
    assert authorize(plain, "tag") is A.ACCEPTED


def test_transaction_ids_are_unique_and_increasing_across_charge_points() -> None:
    central = CentralSystem(CsmsConfig(first_transaction_id=1000))
    ids = [start(central, f"T{n}", cp=f"CP{n % 3}").transaction_id for n in range(50)]
    assert ids == list(range(1000, 1050))
    assert sum(len(central.state(f"CP{n}").transactions) for n in range(3)) == 50


def test_a_transaction_is_opened_even_for_a_tag_that_is_not_accepted() -> None:
    # OCPP 1.6 §5.15 / §6.46: the charge point stops it afterwards (DeAuthorized).
    central = CentralSystem(CsmsConfig(id_tags={"X": A.BLOCKED}))
    answer = start(central, "x")
    assert answer.id_tag_info.status is A.BLOCKED
    assert answer.transaction_id in central.state("CP1").transactions


def test_stop_transaction_closes_it_and_accepts_unknown_ids() -> None:
    central = CentralSystem(CsmsConfig())
    transaction_id = start(central, "T").transaction_id
    assert stop(central, transaction_id, tag=None) == core.StopTransactionConf()
    assert central.state("CP1").transactions == {}
    # OCPP 1.6 §4.10: a stop queued offline for a transaction we do not know.
    assert isinstance(stop(central, 987654), core.StopTransactionConf)


def test_start_transaction_uses_up_its_reservation() -> None:
    central = CentralSystem(CsmsConfig())
    central.state("CP1").reservations[7] = 1
    request = core.StartTransactionReq(connector_id=1, id_tag="T", meter_start=0, timestamp=NOW, reservation_id=7)
    central.handle("CP1", call(request), NOW)
    assert central.state("CP1").reservations == {}


def test_status_notification_records_connectors_but_not_connector_zero() -> None:
    central = CentralSystem(CsmsConfig())
    for connector in (0, 2, 1, 2):
        request = core.StatusNotificationReq(
            connector_id=connector, error_code=ChargePointErrorCode.NO_ERROR, status=ChargePointStatus.AVAILABLE
        )
        central.handle("CP1", call(request), NOW)
    assert central.state("CP1").connector_ids == {1, 2}


@pytest.mark.parametrize("status", [DataTransferStatus.ACCEPTED, DataTransferStatus.UNKNOWN_VENDOR_ID])
def test_data_transfer_answers_the_configured_status(status: DataTransferStatus) -> None:
    answer = CentralSystem(CsmsConfig(data_transfer_status=status)).handle(
        "CP1", call(sample_requests()["DataTransfer"]), NOW
    )
    assert answer == core.DataTransferConf(status=status)


def test_a_csms_initiated_action_from_a_charge_point_is_not_supported() -> None:
    answer = CentralSystem(CsmsConfig()).handle("CP1", call(core.ResetReq(type="Soft")), NOW)
    assert isinstance(answer, Refusal) and answer.code is ErrorCode.NOT_SUPPORTED


def test_require_boot_refuses_calls_before_an_accepted_boot() -> None:
    central = CentralSystem(CsmsConfig(require_boot=True))
    refused = central.handle("CP1", call(core.HeartbeatReq()), NOW)
    assert isinstance(refused, Refusal) and refused.code is ErrorCode.SECURITY_ERROR
    central.handle("CP1", call(sample_requests()["BootNotification"]), NOW)
    assert isinstance(central.handle("CP1", call(core.HeartbeatReq()), NOW), core.HeartbeatConf)


def test_state_is_kept_per_charge_point_id_and_created_on_first_contact() -> None:
    central = CentralSystem(CsmsConfig())
    central.handle("any id at all", call(sample_requests()["BootNotification"]), NOW)
    assert central.state("any id at all").boots == 1
    assert central.state("another").registration is None


def test_confirmations_of_the_csms_calls_update_what_it_knows() -> None:
    central = CentralSystem(CsmsConfig())
    reserve = reservation.ReserveNowReq(connector_id=1, expiry_date=NOW, id_tag="T", reservation_id=5)
    central.on_confirmation("CP1", reserve, reservation.ReserveNowConf(status=ReservationStatus.ACCEPTED))
    rejected = reservation.ReserveNowReq(connector_id=2, expiry_date=NOW, id_tag="T", reservation_id=6)
    central.on_confirmation("CP1", rejected, reservation.ReserveNowConf(status=ReservationStatus.OCCUPIED))
    assert central.state("CP1").reservations == {5: 1}
    cancel = reservation.CancelReservationReq(reservation_id=5)
    central.on_confirmation("CP1", cancel, reservation.CancelReservationConf(status="Rejected"))
    assert central.state("CP1").reservations == {}
    send = local_auth.SendLocalListReq(list_version=4, update_type="Full")
    central.on_confirmation("CP1", send, local_auth.SendLocalListConf(status=UpdateStatus.ACCEPTED))
    assert central.state("CP1").local_list_version == 4


PURE_MODULES = ("central.py", "config.py", "outbound.py")


@pytest.mark.parametrize("name", PURE_MODULES)
def test_the_csms_logic_imports_no_io_and_reads_no_clock(name: str) -> None:
    # DESIGN.md's rule for the core, applied to the CSMS's pure half.
    path = Path(__file__).resolve().parents[2] / "fleetsim" / "csms" / name
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"trio", "time", "socket", "asyncio", "threading"}
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"now", "utcnow", "today"}
