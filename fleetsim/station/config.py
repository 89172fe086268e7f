"""A station's configuration keys (OCPP 1.6 §9): its model's keys, shared by
every station of the model, plus the values this station changed.

The rules of each key (type, bounds, access) live in
:mod:`fleetsim.profiles.configuration`; this module only keeps the per-station
values and answers GetConfiguration and ChangeConfiguration from them.
"""

from __future__ import annotations

from fleetsim.ocpp.datatypes import KeyValue
from fleetsim.ocpp.enums import ConfigurationStatus
from fleetsim.profiles.configuration import ConfigurationKey, StationConfiguration


class ModelConfiguration:
    """The keys of one station model, in GetConfiguration order; shared."""

    __slots__ = ("keys", "_by_folded_name", "max_keys")

    def __init__(self, configuration: StationConfiguration) -> None:
        self.keys: dict[str, ConfigurationKey] = {key.key: key for key in configuration.keys}
        # OCPP 1.6 §7: key names are CiString50, compared case-insensitively.
        self._by_folded_name = {key.key.casefold(): key for key in configuration.keys}
        max_keys = self.keys.get("GetConfigurationMaxKeys")
        self.max_keys = int(max_keys.value) if max_keys is not None and max_keys.value else len(self.keys)

    def lookup(self, name: str) -> ConfigurationKey | None:
        return self.keys.get(name) or self._by_folded_name.get(name.casefold())


class Configuration:
    """One station's view: the model's keys plus its own changes."""

    __slots__ = ("model", "changed")

    def __init__(self, model: ModelConfiguration) -> None:
        self.model = model
        self.changed: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        value = self.changed.get(name)
        if value is not None:
            return value
        key = self.model.keys.get(name)
        return None if key is None else key.value

    def get_int(self, name: str, default: int) -> int:
        value = self.get(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.get(name)
        return default if value is None else value.strip().lower() == "true"

    def get_list(self, name: str) -> list[str]:
        value = self.get(name)
        return [item.strip() for item in value.split(",") if item.strip()] if value else []

    def has(self, name: str) -> bool:
        return name in self.model.keys

    def set(self, name: str, value: str) -> None:
        """Set a value the station itself decided (e.g. the heartbeat interval
        BootNotification.conf gave)."""
        self.changed[name] = value

    def change(self, name: str, value: str) -> tuple[ConfigurationStatus, str | None]:
        """ChangeConfiguration (OCPP 1.6 §5.3): the status, and the key's spec
        name when the change was applied."""
        key = self.model.lookup(name)
        if key is None:
            return ConfigurationStatus.NOT_SUPPORTED, None
        verdict = key.verdict(value, self.get(key.key))
        if verdict != "Accepted":
            return ConfigurationStatus(verdict), None
        self.changed[key.key] = key.canonical(value)
        return ConfigurationStatus.ACCEPTED, key.key

    def report(self, names: list[str] | None) -> tuple[list[KeyValue], list[str]]:
        """GetConfiguration.conf's configurationKey and unknownKey lists.  Without
        names, every readable key; a write-only key is never shown."""
        known: list[KeyValue] = []
        unknown: list[str] = []
        for name in names if names else self.model.keys:
            key = self.model.lookup(name)
            if key is None or not key.readable:
                if names:  # asked for by name: unknown (a write-only key is not shown to exist)
                    unknown.append(name)
                continue
            value = self.get(key.key)
            known.append(KeyValue(key=key.key, readonly=key.readonly, value=value))
        return known, unknown
