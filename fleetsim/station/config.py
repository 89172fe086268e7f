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

_MISSING = object()  # a key the configuration lacks, or a value that does not parse
_UNCACHED = object()


def _parse_int(value: str) -> object:
    try:
        return int(value)
    except ValueError:
        return _MISSING


def _parse_bool(value: str) -> object:
    return value.strip().lower() == "true"


def _parse_list(value: str) -> object:
    return tuple(item.strip() for item in value.split(",") if item.strip())


# The kinds a key is read as, each with its parser and its own cache (a cache
# keyed by the name alone: a dictionary lookup of a string hashed once).
_INT, _BOOL, _LIST = 0, 1, 2
_PARSERS = (_parse_int, _parse_bool, _parse_list)


def _caches() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    return {}, {}, {}


class ModelConfiguration:
    """The keys of one station model, in GetConfiguration order; shared, with
    the parsed form of each default cached (stations read keys on every
    message: parsing them each time was a measurable share of the CPU)."""

    __slots__ = ("_by_folded_name", "keys", "max_keys", "parsed")

    def __init__(self, configuration: StationConfiguration) -> None:
        self.keys: dict[str, ConfigurationKey] = {key.key: key for key in configuration.keys}
        # OCPP 1.6 §7: key names are CiString50, compared case-insensitively.
        self._by_folded_name = {key.key.casefold(): key for key in configuration.keys}
        max_keys = self.keys.get("GetConfigurationMaxKeys")
        self.max_keys = int(max_keys.value) if max_keys is not None and max_keys.value else len(self.keys)
        self.parsed = _caches()  # by kind (_INT, _BOOL, _LIST): name -> parsed default

    def lookup(self, name: str) -> ConfigurationKey | None:
        return self.keys.get(name) or self._by_folded_name.get(name.casefold())


class Configuration:
    """One station's view: the model's keys plus its own changes.

    ``version`` counts the changes: what a caller derives from the values
    (the meter's measurand recipes, say) it may keep until the version moves."""

    __slots__ = ("_parsed", "changed", "model", "version")

    def __init__(self, model: ModelConfiguration) -> None:
        self.model = model
        self.changed: dict[str, str] = {}
        self._parsed: tuple[dict[str, object], ...] | None = None  # of changed keys only, as the model's
        self.version = 0

    def get(self, name: str) -> str | None:
        value = self.changed.get(name)
        if value is not None:
            return value
        key = self.model.keys.get(name)
        return None if key is None else key.value

    def _typed(self, kind: int, name: str) -> object:
        if name in self.changed:
            caches = self._parsed
            if caches is None:
                caches = self._parsed = _caches()
        else:
            caches = self.model.parsed
        cache = caches[kind]
        found = cache.get(name, _UNCACHED)
        if found is _UNCACHED:
            raw = self.get(name)
            found = cache[name] = _MISSING if raw is None else _PARSERS[kind](raw)
        return found

    def get_int(self, name: str, default: int) -> int:
        value = self._typed(_INT, name)
        return default if value is _MISSING else value  # type: ignore[return-value]

    def get_bool(self, name: str, default: bool) -> bool:
        value = self._typed(_BOOL, name)
        return default if value is _MISSING else value  # type: ignore[return-value]

    def get_list(self, name: str) -> tuple[str, ...]:
        value = self._typed(_LIST, name)
        return () if value is _MISSING else value  # type: ignore[return-value]

    def has(self, name: str) -> bool:
        return name in self.model.keys

    def set(self, name: str, value: str) -> None:
        """Set a value the station itself decided (e.g. the heartbeat interval
        BootNotification.conf gave)."""
        self.changed[name] = value
        self._parsed = None
        self.version += 1

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
        self._parsed = None
        self.version += 1
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
