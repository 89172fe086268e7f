"""What the certificate parser could not read: one warning per profile field."""

from __future__ import annotations

import msgspec


class ParseWarning(msgspec.Struct, frozen=True):
    field: str  # dotted profile field, e.g. "hardware.dc_power_kw", "performance.remote_stop"
    reason: str  # why: row missing, value unreadable, OCR correction, inference

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class Notes:
    """Collects warnings while parsing, in order, without duplicates."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], ParseWarning] = {}

    def add(self, field: str, reason: str) -> None:
        self._items.setdefault((field, reason), ParseWarning(field, reason))

    def fields(self) -> set[str]:
        return {field for field, _ in self._items}

    def result(self) -> tuple[ParseWarning, ...]:
        return tuple(self._items.values())
