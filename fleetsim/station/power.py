"""What an EV draws from a connector: the physical side of a session.

AC: power = min(EVSE current × phases × 230 V, the EV's on-board charger, the
smart-charging limit).  DC: min(the station's DC power, the EV's DC limit ×
taper(SoC), the smart-charging limit), where the taper is flat up to 80 % SoC
and falls linearly to zero at 100 % (the battery model of acnportal and ev2gym).
Energy is integrated piecewise between the station's wake-ups; SoC follows the
energy, so energy, power and SoC stay consistent.
"""

from __future__ import annotations

from typing import Final

import msgspec

NOMINAL_VOLTAGE_V: Final = 230.0
TAPER_START_SOC: Final = 0.8


class Ev(msgspec.Struct, frozen=True):
    """The vehicle of one session."""

    battery_kwh: float = 58.0  # mean of the Dutch fleet (ElaadNL)
    soc_start: float = 0.3
    soc_target: float = 1.0
    max_ac_kw: float = 11.0  # 78 % of Dutch registrations take 11 kW AC
    max_dc_kw: float = 100.0
    energy_wanted_kwh: float | None = None  # stop drawing after this much (AC sessions)


class ConnectorRating(msgspec.Struct, frozen=True):
    """What the connector can deliver."""

    dc: bool
    phases: int
    max_current_a: float
    max_power_kw: float

    @property
    def max_power_w(self) -> float:
        if self.dc:
            return self.max_power_kw * 1000.0
        return min(self.max_current_a * self.phases * NOMINAL_VOLTAGE_V, self.max_power_kw * 1000.0)


def taper(soc: float) -> float:
    if soc < TAPER_START_SOC:
        return 1.0
    if soc >= 1.0:
        return 0.0
    return (1.0 - soc) / (1.0 - TAPER_START_SOC)


def ev_demand_w(ev: Ev, rating: ConnectorRating, soc: float, delivered_wh: float) -> float:
    """What the EV would draw now, before any smart-charging limit."""
    if soc >= ev.soc_target:
        return 0.0
    if ev.energy_wanted_kwh is not None and delivered_wh >= ev.energy_wanted_kwh * 1000.0:
        return 0.0
    if rating.dc:
        return min(rating.max_power_w, ev.max_dc_kw * 1000.0 * taper(soc))
    return min(rating.max_power_w, ev.max_ac_kw * 1000.0)


def limit_to_watts(limit: float, unit_is_amps: bool, rating: ConnectorRating, phases: int | None) -> float:
    """A charging-schedule limit in W (OCPP 1.6 §7.13: A per phase, or W)."""
    if not unit_is_amps:
        return limit
    if rating.dc:
        # A DC limit in A: at the nominal DC voltage assumed for the connector.
        return limit * 400.0
    return limit * (phases or rating.phases) * NOMINAL_VOLTAGE_V
