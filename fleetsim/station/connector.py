"""A connector of a station: its OCPP status, its meter, the EV plugged into
it, and the transaction on it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fleetsim.ocpp.datatypes import SampledValue
from fleetsim.ocpp.enums import ChargePointErrorCode, ChargePointStatus
from fleetsim.station.power import ConnectorRating, Ev, ev_demand_w

if TYPE_CHECKING:
    from fleetsim.station.measurands import MeterPlan

Sample = tuple[datetime, list[SampledValue]]


class Transaction:
    """One transaction, from the station's side.  ``transaction_id`` is the
    CSMS's id, unknown until StartTransaction.conf arrives (possibly long after,
    when the transaction started offline).

    Of its StopTxn*Data samples it keeps what StopTransaction.req can carry
    (StopTransactionMaxMeterValues, ``limit``): the first ``limit`` - 1 in
    ``samples`` and, once there were more, the latest in ``latest_sample``;
    a transaction sampled every second for a day keeps no more."""

    __slots__ = (
        "id_tag",
        "invalid",
        "latest_sample",
        "meter_start_wh",
        "remote",
        "reservation_id",
        "samples",
        "started_at",
        "started_s",
        "stopping",
        "transaction_id",
    )

    def __init__(self, id_tag: str, meter_start_wh: int, started_at: datetime, started_s: float,
                 reservation_id: int | None, remote: bool) -> None:
        self.id_tag = id_tag
        self.meter_start_wh = meter_start_wh
        self.started_at = started_at
        self.started_s = started_s
        self.reservation_id = reservation_id
        self.transaction_id: int | None = None
        self.remote = remote
        self.samples: list[Sample] = []  # the first StopTxn*Data samples
        self.latest_sample: Sample | None = None  # the latest, once there were more than ``samples`` keeps
        self.stopping = False
        self.invalid = False  # the CSMS did not accept the idTag (StartTransaction.conf)

    def keep_sample(self, sample: Sample, limit: int) -> None:
        """Keep ``sample`` if it is among the first ``limit`` - 1 (one at
        least), else as the latest."""
        if self.latest_sample is None and len(self.samples) < max(1, limit - 1):
            self.samples.append(sample)
        else:
            self.latest_sample = sample

    def stop_samples(self, end: Sample | None, limit: int) -> list[Sample]:
        """What StopTransaction.req carries of the samples taken and the one
        at its ``end``: all if they are at most ``limit``, else the first
        ``limit`` - 1 and the last (only the first for a limit of 1).  A limit
        raised during the transaction finds only what the lower one kept."""
        if self.latest_sample is None:
            samples = [*self.samples, end] if end is not None else list(self.samples)
            if len(samples) > limit:
                samples = samples[: max(1, limit - 1)] + samples[-1:]
        else:
            samples = self.samples[: max(1, limit - 1)] + [end if end is not None else self.latest_sample]
        return samples[:limit]


class Connector:
    """Status, meter and session of one connector (ids from 1)."""

    __slots__ = (
        "authorized_id_tag",
        "connector_id",
        "delivered_wh",
        "error_code",
        "ev",
        "inoperative",
        "inoperative_scheduled",
        "last_sample_wh",
        "last_update_s",
        "limit_w",
        "meter_plan",
        "physics_basis_due_s",
        "physics_basis_ev",
        "physics_basis_s",
        "physics_basis_w",
        "physics_due_s",
        "plugged",
        "power_w",
        "rating",
        "register_wh",
        "reported_status",
        "reservation_expires_s",
        "reservation_id",
        "reserved_id_tag",
        "sample_due_s",
        "soc",
        "speed",
        "status",
        "status_since_s",
        "transaction",
    )

    def __init__(self, connector_id: int, rating: ConnectorRating, register_wh: float, speed: float = 1.0) -> None:
        self.connector_id = connector_id
        self.rating = rating
        self.status = ChargePointStatus.AVAILABLE
        self.error_code = ChargePointErrorCode.NO_ERROR
        self.reported_status: ChargePointStatus | None = None
        self.status_since_s = 0.0
        self.inoperative = False
        self.inoperative_scheduled: bool | None = None  # ChangeAvailability while charging
        self.ev: Ev | None = None
        self.plugged = False
        self.soc = 0.0
        self.delivered_wh = 0.0
        self.register_wh = register_wh  # Energy.Active.Import.Register: only grows
        self.power_w = 0.0
        self.limit_w = float("inf")  # smart-charging limit in force
        self.last_update_s = 0.0
        self.transaction: Transaction | None = None
        self.authorized_id_tag: str | None = None  # authorized before plug-in
        self.reservation_id: int | None = None
        self.reserved_id_tag: str | None = None
        self.reservation_expires_s = float("inf")
        self.sample_due_s = float("inf")  # next MeterValueSampleInterval sample
        self.physics_due_s = float("inf")  # next power update while charging
        # What physics_due_s was last computed from (metering.schedule_physics):
        # the due time it set, the meter's last update and power, the EV.
        self.physics_basis_due_s = float("nan")
        self.physics_basis_s = float("nan")
        self.physics_basis_w = float("nan")
        self.physics_basis_ev: Ev | None = None
        self.meter_plan: MeterPlan | None = None  # what it samples, per configuration version (metering)
        self.speed = speed  # simulated seconds per engine second
        self.last_sample_wh = register_wh  # for the *.Interval measurands

    # ------------------------------------------------------------- physics

    def advance(self, now_s: float) -> None:
        """Integrate energy since the last update at the power then in force
        (never more than the EV can still take), then recompute the power for
        what follows.  Times are engine seconds; energy follows simulated time."""
        elapsed_s = (now_s - self.last_update_s) * self.speed
        if elapsed_s > 0 and self.power_w > 0:
            energy_wh = min(self.power_w * elapsed_s / 3600.0, self.room_wh())
            self.register_wh += energy_wh
            self.delivered_wh += energy_wh
            if self.ev is not None:
                self.soc = min(1.0, self.soc + energy_wh / (self.ev.battery_kwh * 1000.0))
        self.last_update_s = now_s
        self.power_w = self._power_now()

    def room_wh(self) -> float:
        """Energy the EV still takes before it is full or has what it wanted."""
        ev = self.ev
        if ev is None:
            return 0.0
        room = max(0.0, (ev.soc_target - self.soc) * ev.battery_kwh * 1000.0)
        if ev.energy_wanted_kwh is not None:
            room = min(room, max(0.0, ev.energy_wanted_kwh * 1000.0 - self.delivered_wh))
        return room

    def seconds_to_full(self) -> float:
        """Simulated seconds until the EV stops drawing at the present power."""
        return self.room_wh() * 3600.0 / self.power_w if self.power_w > 0 else float("inf")

    def _power_now(self) -> float:
        if self.ev is None or self.transaction is None or self.transaction.stopping or self.inoperative:
            return 0.0
        if self.transaction.invalid or self.status in (ChargePointStatus.SUSPENDED_EVSE, ChargePointStatus.FAULTED):
            return 0.0
        demand_w = ev_demand_w(self.ev, self.rating, self.soc, self.delivered_wh)
        return max(0.0, min(demand_w, self.limit_w))

    def meter_wh(self) -> int:
        return round(self.register_wh)

    def wants_power(self) -> bool:
        """Whether the EV would draw if the station let it (SuspendedEV vs EVSE)."""
        if self.ev is None:
            return False
        return ev_demand_w(self.ev, self.rating, self.soc, self.delivered_wh) > 0.0

    def charging_status(self) -> ChargePointStatus:
        """Charging, SuspendedEV or SuspendedEVSE, from who holds back energy
        (OCPP 1.6 §7.7)."""
        if not self.wants_power():
            return ChargePointStatus.SUSPENDED_EV
        if self.limit_w <= 0.0 or (self.transaction is not None and self.transaction.invalid):
            return ChargePointStatus.SUSPENDED_EVSE
        return ChargePointStatus.CHARGING
