"""Operating-system limits a large fleet meets: open files (one socket per
station) and ephemeral ports (about 28,000 per source address towards one CSMS
address and port); and fleetsim's own bound on a run (fleetsim.inputs)."""

from __future__ import annotations

import resource
from pathlib import Path

import msgspec

from fleetsim.inputs import MAX_STATIONS

FD_MARGIN = 64  # files the process needs besides the stations' sockets


class LimitProblem(msgspec.Struct, frozen=True):
    what: str
    advice: str


def raise_open_files_limit(wanted: int = 0) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, and the hard limit too
    where ``wanted`` needs it and the process may (root may, up to
    fs.nr_open); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if wanted > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass  # not permitted: stay within the hard limit
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return soft if soft != resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def stations_per_process(source_addresses: int, *, ports: bool = True) -> int:
    """Connections one process can hold: its open files (raised as far as it
    may), and with ``ports``, the ephemeral ports of its source addresses
    towards one CSMS address (one address when none is given)."""
    files = raise_open_files_limit() - FD_MARGIN
    return max(1, min(files, ephemeral_ports() * max(1, source_addresses)) if ports else files)


def ephemeral_ports(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return 28_232  # Linux's default range 32768-60999
    return high - low + 1


def check(stations: int, source_addresses: int, *, embedded_csms: bool) -> list[LimitProblem]:
    """What would stop ``stations`` connections before they are opened.
    Callers check it before making anything for the fleet (not even its ids)."""
    if stations > MAX_STATIONS:  # the command line and scenario files refuse it first; others may not
        return [LimitProblem(f"{stations:,} stations: a run has at most {MAX_STATIONS:,}",
                             "split the fleet over processes or machines and merge their results (fleetsim merge)")]
    problems = []
    # An embedded CSMS holds the other end of every connection in this process.
    needed = stations * (2 if embedded_csms else 1) + FD_MARGIN
    files = raise_open_files_limit(needed)
    if needed > files:
        problems.append(LimitProblem(
            f"{stations} stations need about {needed} open files, the limit is {files}",
            "raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit), or split the fleet over worker "
            "processes (--workers auto; with --source-address when the ports run out too)",
        ))
    ports = ephemeral_ports() * max(1, source_addresses)
    if stations > ports:
        problems.append(LimitProblem(
            f"{stations} connections to one CSMS address need more than the {ports} ephemeral ports available",
            "add source addresses (--source-address 127.0.0.2 --source-address 127.0.0.3 ... on loopback), "
            "or widen net.ipv4.ip_local_port_range",
        ))
    return problems
