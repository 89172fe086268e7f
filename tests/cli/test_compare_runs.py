"""compare on real runs: two shards of one run (the same fleet, other ids,
side by side) show no regression at the default settings, while a run whose
CSMS answers 20 ms later is caught."""

from __future__ import annotations

from pathlib import Path

import msgspec
import trio
from click.testing import CliRunner

from fleetsim.cli import main
from fleetsim.cli.run import EXIT_THRESHOLD_FAILED
from fleetsim.csms.config import CsmsConfig, ResponseDelay
from fleetsim.engine.run import RunSpec, run, shares
from fleetsim.metrics.recorder import Recorder
from fleetsim.metrics.results import summary_document, write_results
from fleetsim.profiles.builtin import load_builtin
from fleetsim.sessions.simple import SimpleSessions

PROFILES = load_builtin()
MODELS = ["bescore-bsc-s12bcc", "wenzhou-bsec-22k-a-2-ccs2-400s"]
SPEC = RunSpec(fleet=shares(MODELS, 16), duration_s=6.0, ramp_per_s=0, speed=60.0, interval_s=0.5,
               reaction_delays=False, sessions=SimpleSessions(mean_idle_s=30.0, mean_connected_s=120.0),
               embedded_traffic=(), stop_grace_s=2.0)


async def _run(spec: RunSpec, out: Path) -> None:
    recorder = Recorder()
    outcome = await run(spec, PROFILES, recorder, results_dir=out)
    document = summary_document(recorder, spec, outcome, run_id=out.name, host="test")
    write_results(out, document, spec, PROFILES)


def test_shards_of_one_run_do_not_differ_and_a_slower_csms_is_caught(tmp_path: Path) -> None:
    delayed = CsmsConfig(delay=ResponseDelay.parse("fixed:20ms"))
    slow = msgspec.structs.replace(SPEC, id_prefix="C", embedded_csms=delayed)

    async def all_three() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_run, msgspec.structs.replace(SPEC, id_prefix="A"), tmp_path / "a")
                nursery.start_soon(_run, msgspec.structs.replace(SPEC, id_prefix="B"), tmp_path / "b")
                nursery.start_soon(_run, slow, tmp_path / "slow")

    trio.run(all_three)

    def compare(base: str, new: str, *limits: str) -> tuple[int, str]:
        args = ["compare", str(tmp_path / base), str(tmp_path / new)]
        for limit in limits:
            args += ["--max-regression", limit]
        result = CliRunner().invoke(main, args, prog_name="fleetsim", catch_exceptions=False)
        return result.exit_code, result.output

    for base, new in (("a", "b"), ("b", "a")):
        code, output = compare(base, new, "10%")
        assert code == 0, output
        assert "no regression past the limits (p50=10%, p95=10%, p99=10%)" in output
        assert "%..+" in output  # the bands are shown
    code, output = compare("a", "slow", "p50=10%")
    assert code == EXIT_THRESHOLD_FAILED, output
    caught = [line for line in output.splitlines() if line.startswith("  ✗ all models ") and ": p50 " in line]
    assert len(caught) >= 3, output  # of the six actions fleet-wide: ms answers became 20+ ms
    assert all("noise band +" in line for line in caught)
