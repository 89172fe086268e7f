"""The Central System's half of OCPP 1.6-J, as a pure function of what the
charge points said: no trio, no clock (the caller passes the time), no IO.

:meth:`CentralSystem.handle` answers one decoded CALL with its confirmation
payload, or with a :class:`Refusal` to be sent as a CALLERROR.  It is on the hot
path of every benchmark, so dispatch is one dict lookup on the payload's type,
and confirmations without per-call content are built once.

State per charge point is kept small (registration, open transactions, what
the CSMS itself set up on it) and survives reconnections: OCPP 1.6 ties state
to the charge point id, not to the WebSocket connection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from fleetsim.csms.config import CsmsConfig
from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import (
    AuthorizationStatus,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    RegistrationStatus,
    ReservationStatus,
    UpdateStatus,
)
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import Call
from fleetsim.ocpp.payloads import core, firmware, local_auth, reservation, security, smart_charging
from fleetsim.ocpp.payloads.security import GenericStatus


class Refusal(msgspec.Struct, frozen=True, gc=False):
    """A CALL the Central System answers with a CALLERROR (OCPP-J 1.6 §4.2.3)."""

    code: ErrorCode
    description: str


Answer = Payload | Refusal


class ChargePointState(msgspec.Struct):
    """What the Central System knows of one charge point."""

    registration: RegistrationStatus | None = None  # None: never sent a BootNotification
    boots: int = 0
    transactions: dict[int, str] = {}  # open transaction id -> its idTag, upper case
    connector_ids: set[int] = msgspec.field(default_factory=set)  # seen in StatusNotification.req
    reservations: dict[int, int] = {}  # reservation id -> connector id, as accepted
    charging_profiles: dict[int, int] = {}  # chargingProfileId -> connector id, as accepted
    local_list_version: int = 0


_Handler = Callable[[ChargePointState, Any, datetime], Answer]

# Confirmations without fields, built once (payload Structs are frozen).
_EMPTY_CONFIRMATIONS: dict[type[Payload], Payload] = {
    core.MeterValuesReq: core.MeterValuesConf(),
    core.StatusNotificationReq: core.StatusNotificationConf(),
    firmware.DiagnosticsStatusNotificationReq: firmware.DiagnosticsStatusNotificationConf(),
    firmware.FirmwareStatusNotificationReq: firmware.FirmwareStatusNotificationConf(),
    security.SecurityEventNotificationReq: security.SecurityEventNotificationConf(),
    security.LogStatusNotificationReq: security.LogStatusNotificationConf(),
    security.SignedFirmwareStatusNotificationReq: security.SignedFirmwareStatusNotificationConf(),
}


class CentralSystem:
    """OCPP 1.6-J Central System logic for any number of charge points."""

    __slots__ = (
        "_confirmation_handlers",
        "_handlers",
        "_id_tag_info",
        "_id_tags",
        "_next_transaction_id",
        "_running_by_tag",
        "charge_points",
        "config",
    )

    def __init__(self, config: CsmsConfig) -> None:
        self.config = config
        self.charge_points: dict[str, ChargePointState] = {}
        self._next_transaction_id = config.first_transaction_id
        self._running_by_tag: dict[str, int] = {}  # tag -> open transactions, for ConcurrentTx
        self._id_tags = {tag.upper(): status for tag, status in config.id_tags.items()}
        self._id_tag_info = {status: IdTagInfo(status=status) for status in AuthorizationStatus}
        self._handlers: dict[type[Payload], _Handler] = {
            core.BootNotificationReq: self._boot_notification,
            core.HeartbeatReq: self._heartbeat,
            core.AuthorizeReq: self._authorize,
            core.StartTransactionReq: self._start_transaction,
            core.StopTransactionReq: self._stop_transaction,
            core.StatusNotificationReq: self._status_notification,
            core.DataTransferReq: self._data_transfer,
            security.SignCertificateReq: self._sign_certificate,
        }
        for request_type, confirmation in _EMPTY_CONFIRMATIONS.items():
            self._handlers.setdefault(request_type, _constant(confirmation))
        self._confirmation_handlers: dict[type[Payload], Callable[[ChargePointState, Any, Any], None]] = {
            core.ResetReq: _on_reset,
            reservation.ReserveNowReq: _on_reserve_now,
            reservation.CancelReservationReq: _on_cancel_reservation,
            smart_charging.SetChargingProfileReq: _on_set_charging_profile,
            smart_charging.ClearChargingProfileReq: _on_clear_charging_profile,
            local_auth.SendLocalListReq: _on_send_local_list,
            local_auth.GetLocalListVersionReq: _on_get_local_list_version,
        }

    def state(self, charge_point_id: str) -> ChargePointState:
        state = self.charge_points.get(charge_point_id)
        if state is None:
            state = self.charge_points[charge_point_id] = ChargePointState()
        return state

    def handle(self, charge_point_id: str, call: Call, now: datetime) -> Answer:
        """The answer to a CALL a charge point sent at ``now``."""
        handler = self._handlers.get(type(call.payload))
        if handler is None:
            # OCPP-J 1.6 §4.2.3: NotSupported is "recognized but not supported";
            # a CSMS-initiated action arriving from a charge point is that.
            return Refusal(ErrorCode.NOT_SUPPORTED, f"{call.action} is not accepted from a Charge Point")
        state = self.state(charge_point_id)
        if (
            self.config.require_boot
            and state.registration is not RegistrationStatus.ACCEPTED
            and type(call.payload) is not core.BootNotificationReq
        ):
            return Refusal(ErrorCode.SECURITY_ERROR, "BootNotification not accepted yet")
        return handler(state, call.payload, now)

    def on_confirmation(self, charge_point_id: str, request: Payload, confirmation: Payload) -> None:
        """Learn from a charge point's answer to a CALL the CSMS sent."""
        handler = self._confirmation_handlers.get(type(request))
        if handler is not None:
            handler(self.state(charge_point_id), request, confirmation)

    def verdict(self, id_tag: str, *, starting: bool = False) -> AuthorizationStatus:
        """The IdTagInfo status for ``id_tag`` (OCPP 1.6 §7.2).  ConcurrentTx
        applies to Authorize and StartTransaction, not to StopTransaction."""
        key = id_tag.upper()
        status = self._id_tags.get(key, self.config.unknown_id_tag)
        if starting and status is AuthorizationStatus.ACCEPTED and self.config.concurrent_tx:
            if self._running_by_tag.get(key):
                return AuthorizationStatus.CONCURRENT_TX
        return status

    # ------------------------------------------------------------ handlers

    def _boot_notification(self, state: ChargePointState, request: core.BootNotificationReq, now: datetime) -> Answer:
        status = self.config.boot_status
        state.registration = status
        state.boots += 1
        interval = self.config.heartbeat_interval_s
        if status is not RegistrationStatus.ACCEPTED:
            interval = self.config.boot_retry_interval_s  # OCPP 1.6 §4.2.1: wait before the next boot
        return core.BootNotificationConf(status=status, current_time=now, interval=interval)

    def _heartbeat(self, state: ChargePointState, request: core.HeartbeatReq, now: datetime) -> Answer:
        return core.HeartbeatConf(current_time=now)

    def _authorize(self, state: ChargePointState, request: core.AuthorizeReq, now: datetime) -> Answer:
        return core.AuthorizeConf(id_tag_info=self._id_tag_info[self.verdict(request.id_tag, starting=True)])

    def _start_transaction(
        self, state: ChargePointState, request: core.StartTransactionReq, now: datetime
    ) -> Answer:
        # OCPP 1.6 §5.15/§6.46: a transaction id is assigned even when the tag is
        # not Accepted; the charge point then stops it (reason DeAuthorized).
        info = self._id_tag_info[self.verdict(request.id_tag, starting=True)]
        transaction_id = self._next_transaction_id
        self._next_transaction_id += self.config.transaction_id_step
        key = request.id_tag.upper()
        state.transactions[transaction_id] = key
        self._running_by_tag[key] = self._running_by_tag.get(key, 0) + 1
        if request.reservation_id is not None:
            state.reservations.pop(request.reservation_id, None)  # §5.13: the reservation is used
        return core.StartTransactionConf(id_tag_info=info, transaction_id=transaction_id)

    def _stop_transaction(self, state: ChargePointState, request: core.StopTransactionReq, now: datetime) -> Answer:
        # OCPP 1.6 §4.10: a StopTransaction for an unknown transaction is still
        # accepted: it may have been queued offline by the charge point.
        key = state.transactions.pop(request.transaction_id, None)
        if key is not None:
            remaining = self._running_by_tag[key] - 1
            if remaining:
                self._running_by_tag[key] = remaining
            else:
                del self._running_by_tag[key]
        if request.id_tag is None:
            return core.StopTransactionConf()
        return core.StopTransactionConf(id_tag_info=self._id_tag_info[self.verdict(request.id_tag)])

    def _status_notification(
        self, state: ChargePointState, request: core.StatusNotificationReq, now: datetime
    ) -> Answer:
        if request.connector_id > 0:  # connector 0 is the charge point itself (§4.9)
            state.connector_ids.add(request.connector_id)
        return _EMPTY_CONFIRMATIONS[core.StatusNotificationReq]

    def _data_transfer(self, state: ChargePointState, request: core.DataTransferReq, now: datetime) -> Answer:
        return core.DataTransferConf(status=self.config.data_transfer_status)

    def _sign_certificate(
        self, state: ChargePointState, request: security.SignCertificateReq, now: datetime
    ) -> Answer:
        # Security whitepaper §5.18: Accepted means the CSR goes to the CA; the
        # certificate would follow in a CertificateSigned.req (a traffic rule).
        return security.SignCertificateConf(status=GenericStatus.ACCEPTED)


def _constant(confirmation: Payload) -> _Handler:
    def handler(state: ChargePointState, request: Any, now: datetime) -> Answer:
        return confirmation

    return handler


# ------------------------------------------------ learning from confirmations


def _on_reset(state: ChargePointState, request: Any, confirmation: Any) -> None:
    # OCPP 1.6 §5.14: an accepted Reset reboots the charge point, which must
    # boot again before the Central System may call it (§4.2.1): until its
    # next BootNotification it is not registered, and gets no calls.
    if confirmation.status == "Accepted":
        state.registration = None


def _on_reserve_now(state: ChargePointState, request: Any, confirmation: Any) -> None:
    if confirmation.status is ReservationStatus.ACCEPTED:
        state.reservations[request.reservation_id] = request.connector_id


def _on_cancel_reservation(state: ChargePointState, request: Any, confirmation: Any) -> None:
    # Rejected means the charge point does not know it either (OCPP 1.6 §5.1).
    state.reservations.pop(request.reservation_id, None)


def _on_set_charging_profile(state: ChargePointState, request: Any, confirmation: Any) -> None:
    if confirmation.status is ChargingProfileStatus.ACCEPTED:
        state.charging_profiles[request.cs_charging_profiles.charging_profile_id] = request.connector_id


def _on_clear_charging_profile(state: ChargePointState, request: Any, confirmation: Any) -> None:
    if confirmation.status is not ClearChargingProfileStatus.ACCEPTED:
        return
    if request.id is not None:
        state.charging_profiles.pop(request.id, None)
    elif request.connector_id is None:
        state.charging_profiles.clear()
    else:
        for profile_id, connector_id in list(state.charging_profiles.items()):
            if connector_id == request.connector_id:
                del state.charging_profiles[profile_id]


def _on_send_local_list(state: ChargePointState, request: Any, confirmation: Any) -> None:
    if confirmation.status is UpdateStatus.ACCEPTED:
        state.local_list_version = request.list_version


def _on_get_local_list_version(state: ChargePointState, request: Any, confirmation: Any) -> None:
    state.local_list_version = max(confirmation.list_version, 0)
