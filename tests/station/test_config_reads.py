"""Typed reads of a station's configuration keys: parsed once per value,
shared by the stations of a model, and each station's own once it changed one."""

from __future__ import annotations

from fleetsim.profiles.builtin import load_builtin
from fleetsim.profiles.configuration import build_configuration
from fleetsim.station.config import Configuration, ModelConfiguration

PROFILE = load_builtin()[sorted(load_builtin())[0]]


def test_typed_reads_follow_each_stations_changes_and_defaults() -> None:
    model = ModelConfiguration(build_configuration(PROFILE))
    first, second = Configuration(model), Configuration(model)
    interval = first.get_int("HeartbeatInterval", -1)
    assert interval == int(model.keys["HeartbeatInterval"].value)
    first.set("HeartbeatInterval", "42")
    assert first.get_int("HeartbeatInterval", -1) == 42
    assert second.get_int("HeartbeatInterval", -1) == interval  # the model's value, for the others
    first.set("HeartbeatInterval", "43")
    assert first.get_int("HeartbeatInterval", -1) == 43  # read again after a change, not the cached 42
    first.set("HeartbeatInterval", "soon")
    assert first.get_int("HeartbeatInterval", -1) == -1  # not an integer: the default
    assert first.get_int("HeartbeatInterval", -2) == -2  # (each time, whatever default is asked)
    assert first.get_int("NoSuchKey", 7) == 7 and first.get_list("NoSuchKey") == ()
    first.set("MeterValuesSampledData", "Energy.Active.Import.Register, Power.Active.Import,")
    assert first.get_list("MeterValuesSampledData") == ("Energy.Active.Import.Register", "Power.Active.Import")
    first.set("StopTransactionOnInvalidId", "TRUE")
    assert first.get_bool("StopTransactionOnInvalidId", False) is True
    # One name read as two kinds: each kind parses it for itself.
    first.set("HeartbeatInterval", "300")
    assert first.get_int("HeartbeatInterval", -1) == 300 and first.get_list("HeartbeatInterval") == ("300",)
