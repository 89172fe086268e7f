"""How the fleet came back from each CSMS outage, and the outages of a
test's shards as one fleet's.  Apart from :mod:`fleetsim.metrics.recorder`,
which may be compiled (a Struct compiled with it would lose ``kw_only=True``);
the recorder re-exports both names.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec


class OutageRecovery(msgspec.Struct, kw_only=True):
    """How the fleet came back from one CSMS outage (fleetsim.engine.faults),
    updated as it recovers.  Recovery times are seconds of real time from the
    outage's end; None: not reached by the end of the run."""

    at_s: float  # simulated seconds from the start of the run
    for_s: float  # simulated
    stations: int
    queued_transaction_messages: int = 0  # waiting in the stations' queues when the outage ended
    booted_after_s: float | None = None  # until every station was connected and booted again
    # The same less each station's own reconnect back-off waits after the end
    # (the slowest station's): the CSMS's part of the recovery, not fleetsim's policy.
    booted_after_net_s: float | None = None
    delivered_after_s: float | None = None  # until every transaction message queued by then was delivered
    not_booted: int = 0  # stations not (yet) connected and booted again
    undelivered: int = 0  # stations with transaction messages from then still queued


def merge_outages(shards: Iterable[Iterable[OutageRecovery]]) -> list[OutageRecovery]:
    """The outages of a test's shards as one fleet's: shards run the same
    scenario, so an outage (same start) is in each; the fleet recovered when
    its last shard did (the slowest time; None if a shard never did), and the
    stations and messages of the shards add up."""
    merged: dict[float, OutageRecovery] = {}
    for outages in shards:
        for outage in outages:
            into = merged.get(outage.at_s)
            if into is None:
                merged[outage.at_s] = msgspec.structs.replace(outage)
                continue
            into.for_s = max(into.for_s, outage.for_s)
            into.stations += outage.stations
            into.queued_transaction_messages += outage.queued_transaction_messages
            into.booted_after_s = _slowest(into.booted_after_s, outage.booted_after_s)
            into.booted_after_net_s = _slowest(into.booted_after_net_s, outage.booted_after_net_s)
            into.delivered_after_s = _slowest(into.delivered_after_s, outage.delivered_after_s)
            into.not_booted += outage.not_booted
            into.undelivered += outage.undelivered
    return [merged[at_s] for at_s in sorted(merged)]


def _slowest(a_s: float | None, b_s: float | None) -> float | None:
    return None if a_s is None or b_s is None else max(a_s, b_s)
