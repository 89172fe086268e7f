"""A summary.json made by hand, for judging thresholds and comparisons on
figures known in advance (layout: results/README.md)."""

from __future__ import annotations

from typing import Any


def exchange(count: int, *, p: tuple[float, float, float, float, float] | None, declared_ms: float,
             errors: dict[str, int] | None = None, timeouts: int = 0, late: int = 0,
             service: tuple[float, float, float, float, float] | None = None) -> dict[str, Any]:
    def block(values: tuple[float, ...] | None) -> dict[str, float] | None:
        return None if values is None else dict(zip(("p50", "p90", "p99", "p99.9", "max"), values, strict=True))

    errors = errors or {}
    return {"count": count, "answered": count - timeouts, "errors": errors, "errors_total": sum(errors.values()),
            "timeouts": timeouts, "late": late, "declared_timeout_ms": declared_ms,
            "corrected_ms": block(p), "service_ms": block(service or p)}


A, B = "model-a", "model.b"  # A declares 10 s, B 60 s
SUMMARY: dict[str, Any] = {
    "schema_version": 1,
    "run": {"id": "hand-made"},
    "models": {
        A: {"declared_timeout_s": 10.0, "exchanges": {
            "BootNotification": exchange(100, p=(50, 80, 120, 150, 200), declared_ms=10_000),
            "Heartbeat": exchange(1000, p=(5, 8, 12, 15, 40), declared_ms=10_000, errors={"InternalError": 2}),
            "StartTransaction": exchange(50, p=(900, 5_000, 9_000, 12_000, 13_000), declared_ms=10_000, late=1,
                                         timeouts=1, service=(10, 20, 30, 40, 50)),
        }},
        B: {"declared_timeout_s": 60.0, "exchanges": {
            "BootNotification": exchange(100, p=(60, 90, 130, 160, 250), declared_ms=60_000),
            "StartTransaction": exchange(50, p=(900, 5_000, 9_000, 12_000, 13_000), declared_ms=60_000),
            "MeterValues": exchange(4, p=None, declared_ms=60_000, timeouts=4),
        }},
    },
    "fleet": {"exchanges": {
        "BootNotification": exchange(200, p=(55, 85, 125, 155, 250), declared_ms=10_000),
        "Heartbeat": exchange(1000, p=(5, 8, 12, 15, 40), declared_ms=10_000, errors={"InternalError": 2}),
        "StartTransaction": exchange(100, p=(900, 5_000, 9_000, 12_000, 13_000), declared_ms=10_000, late=1,
                                     timeouts=1, service=(10, 20, 30, 40, 50)),
        "MeterValues": exchange(4, p=None, declared_ms=60_000, timeouts=4),
    }},
}
