"""What a sampled value of each measurand is made of (OCPP 1.6 §7.31, §7.43),
decided once per connector and configuration: a *recipe* per value (which
reading it shows, its unit, phase and location), so that taking a sample is a
loop over recipes.

A measurand the station does not measure reads 0; one OCPP does not know is
left out; an AC connector reports Current.Import and Voltage per phase and no
SoC (IEC 61851-1 PWM charging tells the station nothing of the battery); DC
reports one current, at a nominal 400 V, and the EV's SoC.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from fleetsim.metrics.units import rounded
from fleetsim.ocpp.datatypes import SampledValue
from fleetsim.ocpp.enums import Location, Measurand, Phase, ReadingContext, UnitOfMeasure
from fleetsim.station.config import Configuration
from fleetsim.station.power import NOMINAL_VOLTAGE_V, ConnectorRating, Ev

DC_VOLTAGE_V = 400.0
# StopTransaction's transactionData when StopTransactionMaxMeterValues is 0 or
# absent: the first samples and the last, however long the transaction.
DEFAULT_STOP_METER_VALUES = 1_000
_AC_PHASES = (Phase.L1, Phase.L2, Phase.L3)
_AC_PHASE_VOLTAGES = (Phase.L1_N, Phase.L2_N, Phase.L3_N)

# Which reading a recipe shows (plain ints: compared once per value sampled).
FIXED = 0  # the recipe's own text
REGISTER = 1  # Energy.Active.Import.Register, Wh
INTERVAL = 2  # the register's growth since the last periodic sample, Wh
POWER = 3  # Power.Active.Import, W
OFFERED_POWER = 4  # the lower of the connector's rating and its smart-charging limit, W
CURRENT = 5  # the power over the recipe's volts, A
OFFERED_CURRENT = 6  # the offered power over the recipe's volts, A
SOC = 7  # the EV's state of charge, %, when an EV is plugged in


class Recipe(NamedTuple):
    reading: int
    measurand: Measurand
    unit: UnitOfMeasure | None = None
    phase: Phase | None = None
    location: Location | None = None
    text: str = ""  # the value of a FIXED reading
    volts: float = 0.0  # what a CURRENT or OFFERED_CURRENT reading divides by
    max_power_w: float = 0.0  # the rating an OFFERED_* reading is capped by
    # A FIXED reading's sampled value per reading context, built once (the
    # values are frozen: every sample may share them).
    fixed: dict[ReadingContext, SampledValue] | None = None


class Meter(Protocol):
    """The readings of a connector's meter (:class:`fleetsim.station.connector.Connector`)."""

    register_wh: float
    last_sample_wh: float
    power_w: float
    limit_w: float
    soc: float
    ev: Ev | None


class MeterPlan:
    """What one connector samples under one version of the station's
    configuration: the recipes of each measurand list, the sample interval,
    and how many samples StopTransaction carries."""

    __slots__ = ("aligned", "sample_interval_s", "sampled", "stop_aligned", "stop_limit", "stop_sampled", "version")

    def __init__(self, config: Configuration, rating: ConnectorRating) -> None:
        self.version = config.version
        self.sampled = recipes_for(config.get_list("MeterValuesSampledData"), rating)
        self.aligned = recipes_for(config.get_list("MeterValuesAlignedData"), rating)
        self.stop_sampled = recipes_for(config.get_list("StopTxnSampledData"), rating)
        self.stop_aligned = recipes_for(config.get_list("StopTxnAlignedData"), rating)
        self.sample_interval_s = max(0, config.get_int("MeterValueSampleInterval", 0))
        limit = config.get_int("StopTransactionMaxMeterValues", 0)
        self.stop_limit = limit if limit > 0 else DEFAULT_STOP_METER_VALUES


def recipes_for(names: tuple[str, ...], rating: ConnectorRating) -> tuple[Recipe, ...]:
    """The recipes of a configured measurand list (MeterValuesSampledData and
    the like), in its order, for a connector of ``rating``."""
    return tuple(recipe for name in names for recipe in _recipes_of(name, rating))


def _recipes_of(name: str, rating: ConnectorRating) -> list[Recipe]:
    if name not in Measurand._value2member_map_:
        return []  # not an OCPP 1.6 measurand (§7.31): nothing to report
    measurand = Measurand(name)
    volts = DC_VOLTAGE_V if rating.dc else NOMINAL_VOLTAGE_V * rating.phases
    match measurand:
        case Measurand.ENERGY_ACTIVE_IMPORT_REGISTER:
            return [Recipe(REGISTER, measurand, UnitOfMeasure.WH)]
        case Measurand.ENERGY_ACTIVE_IMPORT_INTERVAL:
            return [Recipe(INTERVAL, measurand, UnitOfMeasure.WH)]
        case Measurand.POWER_ACTIVE_IMPORT:
            return [Recipe(POWER, measurand, UnitOfMeasure.W)]
        case Measurand.POWER_OFFERED:
            return [Recipe(OFFERED_POWER, measurand, UnitOfMeasure.W, max_power_w=rating.max_power_w)]
        case Measurand.CURRENT_IMPORT:
            if rating.dc:
                return [Recipe(CURRENT, measurand, UnitOfMeasure.A, volts=volts)]
            return [Recipe(CURRENT, measurand, UnitOfMeasure.A, phase, volts=volts)
                    for phase in _AC_PHASES[: rating.phases]]
        case Measurand.CURRENT_OFFERED:
            return [Recipe(OFFERED_CURRENT, measurand, UnitOfMeasure.A, volts=volts, max_power_w=rating.max_power_w)]
        case Measurand.VOLTAGE:
            if rating.dc:
                return [_fixed(measurand, f"{DC_VOLTAGE_V:.1f}", UnitOfMeasure.V)]
            return [_fixed(measurand, f"{NOMINAL_VOLTAGE_V:.1f}", UnitOfMeasure.V, phase)
                    for phase in _AC_PHASE_VOLTAGES[: rating.phases]]
        case Measurand.SOC:
            if not rating.dc:
                return []  # AC (IEC 61851-1 PWM) charging has no SoC from the EV
            return [Recipe(SOC, measurand, UnitOfMeasure.PERCENT, location=Location.EV)]
        case Measurand.FREQUENCY:
            return [_fixed(measurand, "50.0")]
        case Measurand.TEMPERATURE:
            return [_fixed(measurand, "25.0", UnitOfMeasure.CELSIUS, location=Location.BODY)]
        case _:
            return [_fixed(measurand, "0")]


def _fixed(measurand: Measurand, text: str, unit: UnitOfMeasure | None = None, phase: Phase | None = None,
           location: Location | None = None) -> Recipe:
    return Recipe(FIXED, measurand, unit, phase, location, text, fixed={})


def sample(meter: Meter, recipes: tuple[Recipe, ...], context: ReadingContext) -> list[SampledValue]:
    """The sampled values ``recipes`` read from ``meter`` now."""
    values: list[SampledValue] = []
    for reading, measurand, unit, phase, location, text, volts, max_power_w, fixed in recipes:
        if fixed is not None:
            built = fixed.get(context)
            if built is None:
                built = fixed[context] = SampledValue(value=text, context=context, measurand=measurand, phase=phase,
                                                      location=location, unit=unit)
            values.append(built)
            continue
        if reading == REGISTER:
            value = whole_text(meter.register_wh)
        elif reading == POWER:
            value = whole_text(meter.power_w)
        elif reading == CURRENT:
            value = f"{meter.power_w / volts:.1f}"
        elif reading == INTERVAL:
            value = whole_text(meter.register_wh - meter.last_sample_wh)
        elif reading == OFFERED_POWER:
            value = whole_text(min(max_power_w, meter.limit_w))
        elif reading == OFFERED_CURRENT:
            value = f"{min(max_power_w, meter.limit_w) / volts:.1f}"
        else:  # SOC
            if meter.ev is None:
                continue
            value = whole_text(meter.soc * 100)
        values.append(SampledValue(value=value, context=context, measurand=measurand, phase=phase,
                                   location=location, unit=unit))
    return values


def whole_text(x: float) -> str:
    """``f"{x:.0f}"``, the same text (but "0" for -0.0), without ``str.format``
    for what a meter reads (a compiled f-string with a format spec calls it:
    about 220 ns against 35)."""
    return str(rounded(x)) if 0.0 <= x < 4.5e15 else f"{x:.0f}"
