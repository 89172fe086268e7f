"""The Kubernetes deployment on one machine, as a cluster runs it: the shards'
Job's exact pod command (``pod_argv``) started as N processes, each in its own
network namespace with its own address (``ip netns`` and a veth to a bridge in
the root namespace), against one CSMS; then the merge Job's exact shell
command.  Its exit status is the gate's verdict, the merged counts are the sum
of the shards' and the merged percentiles those of one histogram of every
sample of every shard.

Needs root and a kernel that lets us make network namespaces (CI runs as
root); elsewhere it is skipped, saying why.  The namespaces, veths and bridge
are always removed, and every process it started ended, even on failure."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from manifests import DEPLOY, documents, pod_argv, scenario_text
from under_test import UNDER_TEST

from fleetsim.metrics.histogram import Histogram, new_histogram
from fleetsim.metrics.hlog import read_hlog, split_tag

ROOT = DEPLOY.parent.parent
SHARDS = 3
RUN_ID = "netns-1"
DURATION_S = 8  # real seconds of each shard's run
START_AHEAD_S = 6  # START_AT this far ahead: every pod has built its stations by then
DEADLINE_S = 90  # for any one process of the test
LATENCY_FIGURES = ("p50", "p99", "max")
COUNTED = ("count", "answered", "timeouts")
# 10.213.K.0/24: K from the test's pid, the next free one if taken, so that
# parallel runs do not share a subnet.
SUBNET_PREFIX = "10.213"
TCP_ESTABLISHED = "01"  # the state column of /proc/net/tcp (include/net/tcp_states.h)


@dataclass(frozen=True)
class Pod:
    namespace: str
    address: str  # its own address: the pod side of its veth


@dataclass(frozen=True)
class Network:
    csms_address: str  # the root namespace's side: the bridge's address
    pods: tuple[Pod, ...]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _must(*args: str) -> None:
    done = _ip(*args)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _free_subnet() -> int:
    """The third octet of a 10.213.K.0/24 no interface of this machine uses."""
    used = _ip("-4", "-o", "addr", "show").stdout
    for step in range(256):
        octet = (os.getpid() + step) % 254 + 1
        if f" {SUBNET_PREFIX}.{octet}." not in used:
            return octet
    pytest.skip(f"every {SUBNET_PREFIX}.K.0/24 is in use on this machine")


def _skip_unless_namespaces_work() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CI runs this test as root)")
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command (iproute2)")
    probe = f"fsprobe{os.getpid()}"
    done = _ip("netns", "add", probe)
    if done.returncode != 0:
        pytest.skip(f"`ip netns add` does not work here: {done.stderr.strip()}")
    _ip("netns", "del", probe)


def _remove(bridge: str, namespaces: list[str], veths: list[str]) -> None:
    """Removes what :func:`network` made; each step regardless of the others."""
    for veth in veths:  # deleting one end deletes its peer
        _ip("link", "del", veth)
    _ip("link", "del", bridge)
    for namespace in namespaces:
        _ip("netns", "del", namespace)


@pytest.fixture
def network() -> Iterator[Network]:
    """A bridge in the root namespace holding 10.213.K.1/24, and per pod a
    namespace whose only link (besides its own loopback) is a veth to that
    bridge, with address 10.213.K.<2+i>."""
    _skip_unless_namespaces_work()
    pid, octet = os.getpid(), _free_subnet()
    bridge = f"fsb{pid}"
    namespaces: list[str] = []
    veths: list[str] = []
    try:
        _must("link", "add", bridge, "type", "bridge")
        _must("addr", "add", f"{SUBNET_PREFIX}.{octet}.1/24", "dev", bridge)
        _must("link", "set", bridge, "up")
        pods = []
        for i in range(SHARDS):
            namespace, outside, inside = f"fsns{pid}-{i}", f"fsv{pid}x{i}", f"fsp{pid}x{i}"
            address = f"{SUBNET_PREFIX}.{octet}.{2 + i}"
            _must("netns", "add", namespace)
            namespaces.append(namespace)
            _must("link", "add", outside, "type", "veth", "peer", "name", inside)
            veths.append(outside)
            _must("link", "set", outside, "master", bridge, "up")
            _must("link", "set", inside, "netns", namespace)
            _must("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
            _must("-n", namespace, "link", "set", inside, "up")
            _must("-n", namespace, "link", "set", "lo", "up")
            pods.append(Pod(namespace, address))
        yield Network(f"{SUBNET_PREFIX}.{octet}.1", tuple(pods))
    finally:
        _remove(bridge, namespaces, veths)
    leftovers = [name for name in namespaces if Path("/run/netns", name).exists()]
    assert not leftovers, f"namespaces left behind: {leftovers}"


def _short_scenario() -> str:
    """The manifest's scenario (its models, sessions, configuration and
    thresholds) with a fifth of its stations, run for DURATION_S from the
    evening peak: what the pods read from the scenario mount.  Their argv
    stays the manifest's; only the mounted file is smaller."""
    text = scenario_text()
    text, groups = re.subn(r"(?m)^stations = (\d+)", lambda m: f"stations = {int(m[1]) // 5}", text)
    text, durations = re.subn(r"(?m)^duration_s = \d+", f"duration_s = {DURATION_S}", text)
    # 17:00 local: drivers arrive (StartTransaction, MeterValues) within seconds at 240x.
    text, starts = re.subn(r"(?m)^start = \S+", "start = 2026-03-03T17:00:00+01:00", text)
    assert groups >= 1 and durations == starts == 1, "the manifest's scenario changed shape: update this test"
    return text


def _merge_script() -> str:
    (job,) = documents(DEPLOY / "merge-job.yaml")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    shell, flag, script = container["command"]
    assert (shell, flag) == ("sh", "-c")
    return script


def _image_path(tmp_path: Path) -> str:
    """PATH with ``fleetsim``, the image's console script, running this tree."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fleetsim").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m fleetsim "$@"\n')
    (bin_dir / "fleetsim").chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def _start_csms(address: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """The embedded CSMS in the root namespace, listening on the bridge's
    address only: a pod reaches it through its veth or not at all."""
    csms = subprocess.Popen([sys.executable, "-m", "fleetsim", "csms", "serve", "--host", address, "--port", "0",
                             "--status-interval", "0", "--heartbeat-interval", "900"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = csms.stdout.readline() if csms.stdout else ""
    if " listening on " not in line:
        csms.kill()
        raise AssertionError(f"the CSMS did not start: {line}{csms.communicate(timeout=DEADLINE_S)[1]}")
    return csms, line.split(" listening on ")[1].split()[0]


def _established_peers(address: str, port: int) -> Counter[str]:
    """Per peer address, the TCP connections established to ``address:port``
    as the root namespace's kernel sees them (/proc/net/tcp: hex addresses,
    the IPv4 in host byte order).  Each connection once, by its peer's
    address and port: the file is read a page at a time, and a connection
    opened meanwhile shifts the rest, so one already read can come again."""
    local = f"{socket.htonl(int(ipaddress.IPv4Address(address))):08X}:{port:04X}"
    seen: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == TCP_ESTABLISHED:
            seen.add(fields[2])
    return Counter(str(ipaddress.IPv4Address(socket.ntohl(int(peer.partition(":")[0], 16))))
                   for peer in seen)


def _watch(pods: list[subprocess.Popen[str]], address: str, port: int) -> dict[str, int]:
    """Until every pod has ended: per peer address, the most connections it
    held at once to the CSMS."""
    most: dict[str, int] = {}
    deadline = time.monotonic() + START_AHEAD_S + DURATION_S + DEADLINE_S
    while any(pod.poll() is None for pod in pods):
        assert time.monotonic() < deadline, "a pod did not end"
        for peer, count in _established_peers(address, port).items():
            most[peer] = max(most.get(peer, 0), count)
        time.sleep(0.2)
    return most


def _shard_namespace(pid: int) -> int:
    """The network namespace (its inode) of the shard's Python process:
    ``ip netns exec`` enters the namespace and execs the pod's command, whose
    ``fleetsim`` script execs Python, so the shard keeps the pid we started."""
    deadline = time.monotonic() + DEADLINE_S
    while not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(sys.executable.encode() + b"\0-m\0fleetsim\0run"):
        assert time.monotonic() < deadline, f"pid {pid} never became the shard's fleetsim process"
        time.sleep(0.01)
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=DEADLINE_S)


def _stop_csms(csms: subprocess.Popen[str]) -> None:
    """Ctrl-C, as a user stops it; killed if it does not end."""
    if csms.poll() is None:
        csms.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            csms.communicate(timeout=30)
    _end(csms)


@dataclass(frozen=True)
class Ran:
    shards: list[Path]  # the pods' results folders, by index
    namespaces: list[int]  # the network namespace each pod's process ran in (inode), by index
    most: dict[str, int]  # per address, the most connections the CSMS held from it at once


def _run_pods(network: Network, scenario_dir: Path, results: Path, env: dict[str, str]) -> Ran:
    """The CSMS, then the shards' pods, each with the manifest's exact argv
    run in its own namespace; every process ended on return or failure."""
    csms, url = _start_csms(network.csms_address, env)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    start_at = (datetime.now(UTC) + timedelta(seconds=START_AHEAD_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pod_env = {"CSMS_URL": url, "RUN_ID": RUN_ID, "START_AT": start_at}  # the fleetsim-run ConfigMap
    mounts = {"/scenario": scenario_dir, "/results": results}
    pods: list[subprocess.Popen[str]] = []
    try:
        for index, pod in enumerate(network.pods):
            argv = pod_argv(index, SHARDS, pod_env, mounts)
            pods.append(subprocess.Popen(["ip", "netns", "exec", pod.namespace, *argv], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, env={**env, **pod_env}))
        namespaces = [_shard_namespace(process.pid) for process in pods]
        most = _watch(pods, network.csms_address, port)
        for process in pods:
            _, stderr = process.communicate(timeout=DEADLINE_S)
            assert process.returncode == 0, stderr
    finally:
        for process in pods:
            _end(process)
        _stop_csms(csms)
    return Ran([results / RUN_ID / f"shard-{index}" for index in range(SHARDS)], namespaces, most)


def _summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def _every_sample(folders: list[Path]) -> dict[str, Histogram]:
    """Per action, one histogram of every corrected sample the folders' logs hold."""
    added: dict[str, Histogram] = {}
    for folder in folders:
        for interval in read_hlog(folder / "latency.hlog"):
            tag = split_tag(interval.tag or "")
            if tag.view == "corrected" and tag.model_id:
                added.setdefault(tag.name, new_histogram()).add(interval.histogram)
    return added


def _assert_merged_exactly(merged: dict[str, Any], shards: list[Path]) -> None:
    """Counts: the sum of the shards'.  Percentiles: those of one histogram
    of every corrected sample in the shards' logs."""
    summaries = [_summary(folder) for folder in shards]
    exchanges = merged["fleet"]["exchanges"]
    assert {"BootNotification", "StartTransaction", "MeterValues", "StopTransaction"} <= set(exchanges)
    for action, exchange in exchanges.items():
        parts = [summary["fleet"]["exchanges"].get(action, {}) for summary in summaries]
        for key in COUNTED:
            assert exchange[key] == sum(part.get(key, 0) for part in parts), (action, key)
        assert Counter(exchange["errors"]) == sum((Counter(part.get("errors", {})) for part in parts), Counter())
    every = _every_sample(shards)
    assert set(every) == {action for action, exchange in exchanges.items() if exchange["corrected_ms"]}
    for action, histogram in every.items():
        expected = {"p50": histogram.get_value_at_percentile(50.0) / 1000,
                    "p99": histogram.get_value_at_percentile(99.0) / 1000, "max": histogram.get_max_value() / 1000}
        assert {key: exchanges[action]["corrected_ms"][key] for key in LATENCY_FIGURES} == expected, action


def test_the_pods_in_their_own_namespaces_merge_and_gate_as_one_run(network: Network, tmp_path: Path) -> None:
    scenario_dir, results = tmp_path / "scenario", tmp_path / "results"
    scenario_dir.mkdir()
    results.mkdir()
    (scenario_dir / "scenario.toml").write_text(_short_scenario())
    env = {**os.environ, "PATH": _image_path(tmp_path), "PYTHONPATH": str(UNDER_TEST), "PYTHONUNBUFFERED": "1"}
    ran = _run_pods(network, scenario_dir, results, env)

    # Each pod ran in its own namespace, the one made for it ...
    assert ran.namespaces == [os.stat(f"/run/netns/{pod.namespace}").st_ino for pod in network.pods]
    assert len(set(ran.namespaces)) == SHARDS and os.stat("/proc/self/ns/net").st_ino not in ran.namespaces
    # ... and the CSMS saw every station of a shard connect from that pod's own address, all at once.
    stations = {pod.address: sum(_summary(folder)["run"]["fleet"].values())
                for pod, folder in zip(network.pods, ran.shards, strict=True)}
    # A station that reconnects may hold its new connection a moment before the CSMS has
    # seen the old one close: at most one more per reconnect.
    reconnects = {pod.address: _summary(folder)["fleet"]["connection"]["reconnects"]
                  for pod, folder in zip(network.pods, ran.shards, strict=True)}
    assert ran.most.keys() == stations.keys()
    for address, count in stations.items():
        assert count <= ran.most[address] <= count + reconnects[address], address
    assert sum(stations.values()) == sum(int(n) // 5 for n in re.findall(r"(?m)^stations = (\d+)", scenario_text()))

    script = _merge_script().replace("/results/", f"{results}/")  # the volume's mount, outside a pod
    gate = subprocess.run(["sh", "-c", script], env={**env, "RUN_ID": RUN_ID}, capture_output=True, text=True,
                          timeout=DEADLINE_S)
    merged = _summary(results / RUN_ID / "merged")
    # The verdict is the gate's, on the manifest scenario's thresholds judged on the whole run: a
    # healthy CSMS under a few hundred stations passes each by orders of magnitude.
    thresholds = tomllib.loads(scenario_text())["thresholds"]
    assert [verdict["expression"] for verdict in merged["thresholds"]] == thresholds
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert all(f"✓ {threshold}" in gate.stdout for threshold in thresholds), gate.stdout
    assert f"merged {SHARDS} runs" in gate.stdout
    assert (results / RUN_ID / "merged" / "scenario.toml").read_text() == _short_scenario()
    _assert_merged_exactly(merged, ran.shards)
