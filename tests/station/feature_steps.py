"""Steps the feature-profile tests share (Smart Charging, Local Auth List,
Reservation, Firmware, security whitepaper): the built-in models, a booted
bench, what the people at the charger and the CSMS do, and what the station
sent.  Everything runs in virtual time on :class:`harness.Bench`."""

from __future__ import annotations

import copy
from functools import cache

from harness import Bench

from fleetsim.ocpp.base import FeatureProfile, Payload
from fleetsim.ocpp.datatypes import SampledValue
from fleetsim.ocpp.enums import Measurand
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.frames import CallError
from fleetsim.ocpp.payloads.core import ChangeConfigurationReq, MeterValuesReq
from fleetsim.profiles.builtin import load_builtin
from fleetsim.station.build import build_model
from fleetsim.station.model import StationModel
from fleetsim.station.power import Ev

# The built-in models, by what the tests need of them.
CORE_ONLY = "bionever-bss011k-v1000"  # AC 3-phase, Core only
DC_ALL = "evsis-jc-9932-100-cu07"  # DC, 2 connectors, every profile + security; SC in A only, R-1 no
AC_1PHASE = "taeseongcontech-tsct-2007cp"  # AC 1-phase, Core + Firmware (FTP only) + RemoteTrigger
AC_3PHASE = "wenzhou-bsec-22k-a-2-ccs2-400s"  # AC 3 x 32 A, 2 connectors, every profile + security, R-1

AC_EV = Ev(battery_kwh=58.0, soc_start=0.3, max_ac_kw=11.0)
DC_EV = Ev(battery_kwh=58.0, soc_start=0.2, max_dc_kw=100.0)


@cache
def model(model_id: str) -> StationModel:
    return build_model(load_builtin()[model_id])


def variant(model_id: str, **changes: object) -> StationModel:
    """A built-in model with some of its certified answers changed."""
    changed = copy.copy(model(model_id))
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


def without(model_id: str, profile: FeatureProfile) -> StationModel:
    return variant(model_id, supported=model(model_id).supported - {profile})


def booted(model_id: str | StationModel = AC_3PHASE, *, settle_s: float = 30.0) -> Bench:
    """A station connected to the CSMS, its boot and first statuses exchanged."""
    bench = Bench(model(model_id) if isinstance(model_id, str) else model_id)
    bench.connect()
    bench.run_for(settle_s)
    return bench


def reboot(bench: Bench, *, within_s: float = 600.0) -> float:
    """Run until the station wants to go down, then do what the engine does:
    disconnect, wait out the reboot, reconnect, let it boot.  When it went down."""
    end_s = bench.now_s + within_s
    while not bench.station.want_disconnect:
        bench.run_for(0.5)
        assert bench.now_s < end_s, "the station never went down"
    down_at = bench.now_s
    bench.disconnect()
    bench.run_until(bench.station.offline_until_s)
    bench.connect()
    bench.run_for(30)
    return down_at


# ---------------------------------------------------------------- the CSMS


def csms_call(bench: Bench, payload: Payload, *, wait_s: float = 5.0) -> Payload | CallError:
    """The CSMS sends a CALL; the station's answer after ``wait_s``."""
    uid = bench.send_call(payload)
    bench.run_for(wait_s)
    return bench.reply(uid)


def status_of(answer: Payload | CallError) -> str:
    assert not isinstance(answer, CallError), answer
    return str(answer.status)  # type: ignore[attr-defined]


def refused_with(bench: Bench, payload: Payload) -> ErrorCode:
    """The CALLERROR code a CSMS call is answered with."""
    answer = csms_call(bench, payload)
    assert isinstance(answer, CallError), answer
    return ErrorCode(answer.code)


def configure(bench: Bench, key: str, value: str) -> str:
    return status_of(csms_call(bench, ChangeConfigurationReq(key=key, value=value), wait_s=1.0))


# ---------------------------------------------------------------- people at the charger


def plug_in(bench: Bench, connector_id: int = 1, ev: Ev | None = None) -> None:
    chosen = ev or (DC_EV if bench.station.connectors[connector_id - 1].rating.dc else AC_EV)
    bench.act(lambda now: bench.station.plug_in(connector_id, chosen, now))


def badge(bench: Bench, connector_id: int = 1, id_tag: str = "TAG-1") -> None:
    bench.act(lambda now: bench.station.present_id_tag(connector_id, id_tag, now))


def unplug(bench: Bench, connector_id: int = 1) -> None:
    bench.act(lambda now: bench.station.unplug(connector_id, now))


def start_charging(bench: Bench, connector_id: int = 1, id_tag: str = "TAG-1", ev: Ev | None = None) -> None:
    """Plug in, badge, and wait for the StartTransaction to be answered."""
    plug_in(bench, connector_id, ev)
    badge(bench, connector_id, id_tag)
    bench.run_for(5)


# ---------------------------------------------------------------- what the station sent


def calls(bench: Bench, action: str, since_s: float = 0.0) -> list[tuple[float, Payload]]:
    """(time sent, payload) of every ``action`` CALL the station sent since ``since_s``."""
    return [(at, call.payload) for at, call in bench.sent if call.action == action and at >= since_s]


def run_until_sent(bench: Bench, action: str, *, within_s: float, step_s: float = 0.25) -> float:
    """Run until the station sends a new ``action`` CALL; when it did."""
    before = len(calls(bench, action))
    end_s = bench.now_s + within_s
    while bench.now_s < end_s:
        bench.run_for(step_s)
        sent = calls(bench, action)
        if len(sent) > before:
            return sent[before][0]
    raise AssertionError(f"no {action} within {within_s} s")


def meter_values(bench: Bench, connector_id: int, since_s: float = 0.0) -> list[tuple[float, MeterValuesReq]]:
    return [(at, p) for at, p in calls(bench, "MeterValues", since_s) if p.connector_id == connector_id]  # type: ignore[attr-defined]


def number(values: list[SampledValue], measurand: str) -> float:
    """The single value of ``measurand`` (absent measurand: the register, §7.43)."""
    wanted = Measurand(measurand)
    (value,) = [v for v in values if (v.measurand or Measurand.ENERGY_ACTIVE_IMPORT_REGISTER) == wanted]
    return float(value.value)
