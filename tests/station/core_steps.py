"""Steps the station-core tests share: the built-in models, a booted bench, and
what the people at the charger and the CSMS do to a station.

Everything runs in virtual time on :class:`tests.station.harness.Bench`; a
step that waits says how long in its name or its arguments.
"""

from __future__ import annotations

from functools import cache

from harness import Bench

from fleetsim.ocpp.base import Payload
from fleetsim.ocpp.datatypes import SampledValue
from fleetsim.ocpp.enums import Measurand
from fleetsim.ocpp.frames import Call, CallError
from fleetsim.ocpp.payloads.core import (
    ChangeConfigurationReq,
    GetConfigurationReq,
    MeterValuesReq,
)
from fleetsim.profiles.builtin import load_builtin
from fleetsim.profiles.profile import StationProfile
from fleetsim.station.build import build_model
from fleetsim.station.model import StationModel
from fleetsim.station.power import Ev

# The built-in models, by what the tests need of them.
DC_2CCS = "bescore-bsc-s12bcc"  # DC, 2 x CCS2, every profile, declared response timeout 25 s
CORE_ONLY = "bionever-bss011k-v1000"  # AC 3-phase, Core only, 10 s, MinimumStatusDuration 10 s
DC_ALL = "evsis-jc-9932-100-cu07"  # DC, every profile, GetConfigurationMaxKeys 3
AC_1PHASE = "taeseongcontech-tsct-2007cp"  # AC 1-phase, Core + Firmware + RemoteTrigger, 60 s
AC_3PHASE = "wenzhou-bsec-22k-a-2-ccs2-400s"  # AC 3-phase, 2 connectors, every profile, 10 s

MODEL_IDS = tuple(load_builtin())

AC_EV = Ev(battery_kwh=58.0, soc_start=0.3, max_ac_kw=11.0)
DC_EV = Ev(battery_kwh=58.0, soc_start=0.2, max_dc_kw=100.0)


def profile(model_id: str) -> StationProfile:
    return load_builtin()[model_id]


@cache
def model(model_id: str) -> StationModel:
    """Models are shared and read-only, as in a fleet: build each once."""
    return build_model(profile(model_id))


def booted(model_id: str = AC_3PHASE, *, settle_s: float = 30.0, **bench_options: object) -> Bench:
    """A station connected to the CSMS, its BootNotification and first
    StatusNotifications exchanged."""
    bench = Bench(model(model_id), **bench_options)  # type: ignore[arg-type]
    bench.connect()
    bench.run_for(settle_s)
    return bench


# ---------------------------------------------------------------- the CSMS


def csms_call(bench: Bench, payload: Payload, *, wait_s: float = 5.0) -> Payload | CallError:
    """The CSMS sends a CALL; the station's answer after ``wait_s``."""
    uid = bench.send_call(payload)
    bench.run_for(wait_s)
    return bench.reply(uid)


def configure(bench: Bench, key: str, value: str) -> str:
    """ChangeConfiguration.req; the status of the answer."""
    answer = csms_call(bench, ChangeConfigurationReq(key=key, value=value), wait_s=1.0 + 2 * bench.latency_s)
    assert not isinstance(answer, CallError), answer
    return str(answer.status)


def configuration(bench: Bench, *keys: str) -> dict[str, str | None]:
    """GetConfiguration.req: reported key -> value (all keys when none named)."""
    answer = csms_call(bench, GetConfigurationReq(key=list(keys) or None), wait_s=1.0 + 2 * bench.latency_s)
    assert not isinstance(answer, CallError), answer
    return {kv.key: kv.value for kv in answer.configuration_key or ()}


# ---------------------------------------------------------------- people at the charger


def ev_for(bench: Bench, connector_id: int) -> Ev:
    return DC_EV if bench.station.connectors[connector_id - 1].rating.dc else AC_EV


def plug_in(bench: Bench, connector_id: int = 1, ev: Ev | None = None) -> None:
    chosen = ev or ev_for(bench, connector_id)
    bench.act(lambda now: bench.station.plug_in(connector_id, chosen, now))


def badge(bench: Bench, connector_id: int = 1, id_tag: str = "TAG-1") -> None:
    bench.act(lambda now: bench.station.present_id_tag(connector_id, id_tag, now))


def unplug(bench: Bench, connector_id: int = 1) -> None:
    bench.act(lambda now: bench.station.unplug(connector_id, now))


def start_charging(bench: Bench, connector_id: int = 1, id_tag: str = "TAG-1", ev: Ev | None = None,
                   *, settle_s: float = 5.0) -> None:
    """Plug in, badge, and wait for the StartTransaction to be answered."""
    plug_in(bench, connector_id, ev)
    badge(bench, connector_id, id_tag)
    bench.run_for(settle_s)


# ---------------------------------------------------------------- what the station sent


def calls(bench: Bench, action: str, since_s: float = 0.0) -> list[tuple[float, Payload]]:
    """(time sent, payload) of every ``action`` CALL the station sent since ``since_s``."""
    return [(at, call.payload) for at, call in bench.sent if call.action == action and at >= since_s]


def sent_since(bench: Bench, since_s: float) -> list[tuple[float, Call]]:
    return [(at, call) for at, call in bench.sent if at >= since_s]


def sampled(values: list[SampledValue], measurand: str) -> list[SampledValue]:
    """The sampled values of one measurand (absent measurand = the register, §7.43)."""
    wanted = Measurand(measurand)
    return [v for v in values if (v.measurand or Measurand.ENERGY_ACTIVE_IMPORT_REGISTER) == wanted]


def number(values: list[SampledValue], measurand: str) -> float:
    """The single value of ``measurand`` among ``values``."""
    (value,) = sampled(values, measurand)
    return float(value.value)


def meter_values(bench: Bench, *, connector_id: int | None = None, since_s: float = 0.0
                 ) -> list[tuple[float, MeterValuesReq]]:
    return [(at, p) for at, p in calls(bench, "MeterValues", since_s)
            if connector_id is None or p.connector_id == connector_id]

