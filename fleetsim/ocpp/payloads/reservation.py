"""Payloads of the Reservation profile (OCPP 1.6 §5; fields in §6)."""

from __future__ import annotations

from fleetsim.ocpp.base import ActionSpec, DateTime, FeatureProfile, IdToken, Initiator, Payload, spec
from fleetsim.ocpp.enums import CancelReservationStatus, ReservationStatus


class CancelReservationReq(Payload):
    """OCPP 1.6 §6.5."""

    reservation_id: int


class CancelReservationConf(Payload):
    """OCPP 1.6 §6.6."""

    status: CancelReservationStatus


class ReserveNowReq(Payload):
    """OCPP 1.6 §6.37.  Connector 0 reserves the Charge Point as a whole."""

    connector_id: int
    expiry_date: DateTime
    id_tag: IdToken
    parent_id_tag: IdToken | None = None
    reservation_id: int


class ReserveNowConf(Payload):
    """OCPP 1.6 §6.38."""

    status: ReservationStatus


SPECS: tuple[ActionSpec, ...] = (
    spec(
        "CancelReservation",
        CancelReservationReq,
        CancelReservationConf,
        Initiator.CENTRAL_SYSTEM,
        FeatureProfile.RESERVATION,
    ),
    spec("ReserveNow", ReserveNowReq, ReserveNowConf, Initiator.CENTRAL_SYSTEM, FeatureProfile.RESERVATION),
)
