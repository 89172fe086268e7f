"""Objects of summary.json made when first read (fleetsim.metrics.summary).

Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["Lazy", "Later", "force"]


class Later:
    """A value of a :class:`Lazy` object, made when first read."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


class Lazy(Mapping[str, Any]):
    """An object of summary.json whose :class:`Later` values are made when
    first read.  The whole summary of a fleet of five models costs tens of
    milliseconds to make, too long to stall the event loop for at every
    interval; a threshold judged live reads a few figures of it, and pays for
    those only.  :func:`force` makes it the plain document summary.json holds,
    from the same code."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, Any]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        value = self._items[key]
        if type(value) is Later:
            value = self._items[key] = value.make()
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def force(value: Any) -> Any:
    """A summary (or part of one) made whole: plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: force(item) for key, item in value.items()}
    if isinstance(value, list):
        return [force(item) for item in value]
    return value
