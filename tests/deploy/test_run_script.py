"""deploy/kubernetes/run.sh against a stand-in for kubectl that answers as a
cluster would: the order of its steps, the run's settings it writes, and its
exit status, the test's verdict (the merge-and-gate step's, or the failed
shards' when a shard did not run to its end)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from manifests import DEPLOY

# Answers as the API server would, from STUB_* variables; every call logged.
STUB = """#!{python}
import os, sys
argv = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(" ".join(argv) + "\\n")
    if argv[:2] == ["apply", "-f"] and argv[2] == "-":
        log.write(sys.stdin.read())
def job():
    return next(a for a in argv if a.startswith("job/") or "job-name=" in a).rpartition("/")[2].rpartition("=")[2]
def ended(job_name):
    return os.environ["STUB_SHARDS"] if job_name == "fleetsim-shards" else (
        "complete" if os.environ["STUB_VERDICT"] == "0" else "failed")
if argv[0] == "wait":
    wanted = argv[1].rpartition("=")[2]
    sys.exit(0 if ended(job()) == wanted else 1)
if argv[0] == "create":
    print("kind: ConfigMap  # " + " ".join(a for a in argv if a.startswith("--from-literal")))
elif argv[:2] == ["get", "pods"]:
    print(os.environ["STUB_SHARD_CODES"] if job() == "fleetsim-shards" else os.environ["STUB_VERDICT"], end="")
elif argv[0] == "logs":
    print("thresholds: 1 passed, 0 failed")
"""


def run_script(tmp_path: Path, *, shards: str = "complete", codes: str = "", verdict: str = "0",
               csms_url: str | None = "ws://csms.test:9000/ocpp") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    stub = tmp_path / "kubectl"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {"PATH": os.environ["PATH"], "KUBECTL": str(stub), "STUB_LOG": str(log), "STUB_SHARDS": shards,
           "STUB_SHARD_CODES": codes, "STUB_VERDICT": verdict, "TIMEOUT_S": "30"}
    if csms_url is not None:
        env["CSMS_URL"] = csms_url
    done = subprocess.run(["sh", str(DEPLOY / "run.sh")], env=env, capture_output=True, text=True, timeout=60)
    return done, log.read_text().splitlines() if log.exists() else []


def _steps(calls: list[str]) -> list[str]:
    """The calls that change the cluster, in order (not the waits and reads)."""
    return [call.split(" -")[0] if call.startswith("create") else call.replace(str(DEPLOY) + "/", "")
            for call in calls if call.split(" ")[0] in ("delete", "apply", "create")]


def test_a_run_applies_the_shards_then_the_merge_step_and_exits_with_its_verdict(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    done, calls = run_script(tmp_path, verdict="99")
    assert done.returncode == 99, done.stderr
    assert _steps(calls) == [
        "delete job fleetsim-shards fleetsim-merge --ignore-not-found --cascade=foreground",
        "apply -f scenario.yaml -f results-pvc.yaml",
        "create configmap fleetsim-run",
        "apply -f -",
        "apply -f shards-job.yaml",
        "apply -f merge-job.yaml",
    ]
    # The merge step starts only once the shards' Job is complete.
    assert calls.index("wait --for=condition=complete --timeout=10s job/fleetsim-shards") < \
        calls.index(f"apply -f {DEPLOY}/merge-job.yaml")
    literals = dict(word.removeprefix("--from-literal=").split("=", 1)
                    for word in shlex.split(next(c for c in calls if c.startswith("create configmap")))
                    if word.startswith("--from-literal="))
    assert literals["CSMS_URL"] == "ws://csms.test:9000/ocpp"
    assert literals["RUN_ID"].startswith("fleetsim-20")
    start_s = (datetime.fromisoformat(literals["START_AT"]) - before).total_seconds()
    assert 55 <= start_s <= 65, literals["START_AT"]  # a minute ahead: every shard ramps from then
    assert "thresholds: 1 passed" in done.stdout  # the merge pod's log, its verdicts


def test_a_passing_gate_exits_0(tmp_path: Path) -> None:
    done, _ = run_script(tmp_path, verdict="0")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("codes", "exit_code"), [
    ("0 0\n1 4\n2 0\n3 0", 4),  # a shard could not drive its fleet
    ("0 0\n1 4\n2 137\n3 0", 3),  # another was killed (out of memory)
    ("0 0\n1 \n2 0\n3 0", 3),  # a shard that never ran
    ("0 130\n1 0\n2 4\n3 0", 130),  # one was stopped (its node drained)
])
def test_a_failed_shard_fails_the_test_after_the_merge(tmp_path: Path, codes: str, exit_code: int) -> None:
    done, calls = run_script(tmp_path, shards="failed", codes=codes, verdict="0")
    assert done.returncode == exit_code, done.stderr
    assert f"apply -f {DEPLOY}/merge-job.yaml" in calls  # what was measured is merged all the same
    failed = [line for line in codes.splitlines() if line.split(" ")[1:] != ["0"]]
    assert all(line in done.stderr.splitlines() for line in failed), done.stderr
    assert "not every shard ran to its end" in done.stderr


@pytest.mark.parametrize("csms_url", [None, "http://csms.test/ocpp"])
def test_without_a_websocket_csms_url_nothing_is_applied(tmp_path: Path, csms_url: str | None) -> None:
    done, calls = run_script(tmp_path, csms_url=csms_url)
    assert done.returncode == 2
    assert "set CSMS_URL" in done.stderr and calls == []
