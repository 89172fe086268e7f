"""The fleet's pick of local ports (fleetsim.engine.source_ports)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetsim.engine.source_ports import DEFAULT_RANGE, MAX_TRIES, SourcePorts, local_port_range


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def new(made: list[socket.socket]) -> socket.socket:
    sock = socket.socket()
    made.append(sock)
    return sock


def free_range(size: int) -> tuple[int, int]:
    """``size`` consecutive ports nothing on this host is bound to now."""
    rng = random.Random()
    for _ in range(50):
        low = rng.randrange(20_000, 30_000)
        probes = []
        try:
            for port in range(low, low + size):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return low, low + size - 1
    pytest.skip("no free run of ports found")


def test_ports_are_taken_in_turn_and_wrap_round(sockets: list[socket.socket]) -> None:
    low, high = free_range(4)
    ports = SourcePorts((low, high), random.Random(0))
    bound = []
    for _ in range(4):
        sock = new(sockets)
        assert ports.bind(sock, "127.0.0.1")
        bound.append(sock.getsockname()[1])
    start = bound[0]
    assert bound == [low + (start - low + k) % 4 for k in range(4)]
    assert sorted(bound) == list(range(low, high + 1))


def test_a_port_in_use_is_skipped(sockets: list[socket.socket]) -> None:
    low, high = free_range(3)
    taken = new(sockets)
    taken.bind(("127.0.0.1", low + 1))
    ports = SourcePorts((low, high), random.Random(0))
    ports._next["127.0.0.1"] = low  # start at the range's first port
    first, second = new(sockets), new(sockets)
    assert ports.bind(first, "127.0.0.1") and ports.bind(second, "127.0.0.1")
    assert (first.getsockname()[1], second.getsockname()[1]) == (low, low + 2)


def test_a_range_all_in_use_leaves_the_choice_to_the_kernel(sockets: list[socket.socket]) -> None:
    low, high = free_range(2)
    for port in (low, high):
        new(sockets).bind(("127.0.0.1", port))
    ports = SourcePorts((low, high))
    sock = new(sockets)
    assert not ports.bind(sock, "127.0.0.1")
    assert sock.getsockname()[1] == 0  # unbound: connect() picks
    assert ports.kernel_picked == 1
    assert MAX_TRIES >= 2


def test_each_source_address_has_its_own_cursor(sockets: list[socket.socket]) -> None:
    low, high = free_range(2)
    ports = SourcePorts((low, high), random.Random(0))
    ports._next.update({"127.0.0.1": low, "127.0.0.2": low})
    a, b = new(sockets), new(sockets)
    assert ports.bind(a, "127.0.0.1") and ports.bind(b, "127.0.0.2")
    assert a.getsockname() == ("127.0.0.1", low) and b.getsockname() == ("127.0.0.2", low)


def test_another_bind_error_is_the_callers(sockets: list[socket.socket]) -> None:
    ports = SourcePorts((40_000, 40_010))
    with pytest.raises(OSError):
        ports.bind(new(sockets), "192.0.2.1")  # TEST-NET-1: no address of this host


def test_the_kernels_range_is_read_and_a_bad_file_falls_back(tmp_path: Path) -> None:
    good = tmp_path / "range"
    good.write_text("32768\t60999\n")
    assert local_port_range(good) == (32768, 60999)
    for text in ("nonsense", "70000 80000", "5000 4000", ""):
        good.write_text(text)
        assert local_port_range(good) == DEFAULT_RANGE
    assert local_port_range(tmp_path / "missing") == DEFAULT_RANGE
