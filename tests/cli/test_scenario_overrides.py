"""``fleetsim run SCENARIO`` with --id-prefix and --stations: an id prefix
given for the run reaches the groups with an id_pattern too (two runs with
two prefixes never share a charge point id), and --stations scales the
groups in proportion, exactly N in all (``scenario check --stations`` prints
that plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import fleetsim, write
from click.testing import Result

from fleetsim.engine.run import station_ids
from fleetsim.station.build import MAX_ID_LENGTH

BIONEVER, WENZHOU, TAESEONG = "bionever-bss011k-v1000", "wenzhou-bsec-22k-a-2-ccs2-400s", "taeseongcontech-tsct-2007cp"
# As ac-public-day: a pattern group beside groups of default ids.
FLEET = (f'[[groups]]\nmodel = "{WENZHOU}"\nstations = 600\nid_pattern = "NL-AMS-{{n:04d}}"\n'
         f'[[groups]]\nmodel = "{BIONEVER}"\nstations = 250\n'
         f'[[groups]]\nmodel = "{TAESEONG}"\nstations = 150\nname = "Type 1"\n')


class _Captured(Exception):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``captured(*args)``: the RunSpec and the Result of ``fleetsim run
    ARGS`` (the run is replaced by one that keeps the spec and stops)."""
    seen: list[Any] = []
    runs: list[tuple[str, ...]] = []

    async def keep_spec(spec: Any, *_: Any, **__: Any) -> None:
        seen.append(spec)
        raise _Captured

    monkeypatch.setattr("fleetsim.cli.run.run", keep_spec)

    def run(*args: str) -> tuple[Any, Result]:
        runs.append(args)  # a folder each: the broken run leaves its summary.json
        result = fleetsim("run", *args, "-q", "--out", str(tmp_path / f"out{len(runs)}"))
        assert result.exit_code == 3 and seen, result.output
        return seen.pop(), result

    return run


# ---------------------------------------------------------------- --id-prefix


def test_two_id_prefixes_give_disjoint_ids_for_a_pattern_group(tmp_path: Path, captured: Any) -> None:
    path = str(write(tmp_path, FLEET))
    first, _ = captured(path, "--id-prefix", "SHARD0")
    second, _ = captured(path, "--id-prefix", "SHARD1")
    first_ids, second_ids = {cp for cp, _ in station_ids(first)}, {cp for cp, _ in station_ids(second)}
    assert len(first_ids) == len(second_ids) == 1000
    assert not first_ids & second_ids
    assert {"SHARD0-NL-AMS-0001", "SHARD0-NL-AMS-0600", f"SHARD0-{BIONEVER}-00001"} <= first_ids
    assert "SHARD1-NL-AMS-0600" in second_ids


def test_without_id_prefix_the_patterns_stay_as_written(tmp_path: Path, captured: Any) -> None:
    spec, _ = captured(str(write(tmp_path, FLEET + '[run]\nid_prefix = "FILE"\n')))
    ids = {cp for cp, _ in station_ids(spec)}
    assert "NL-AMS-0001" in ids and f"FILE-{BIONEVER}-00001" in ids


def test_a_pattern_that_places_the_prefix_takes_the_files_or_the_runs(tmp_path: Path, captured: Any) -> None:
    path = str(write(tmp_path, f'[[groups]]\nmodel = "{BIONEVER}"\nstations = 2\nid_pattern = "{{prefix}}.AMS-{{n}}"\n'
                               '[run]\nid_prefix = "NL"\n'))
    from_file, _ = captured(path)
    from_run, _ = captured(path, "--id-prefix", "DE")
    assert [cp for cp, _ in station_ids(from_file)] == ["NL.AMS-1", "NL.AMS-2"]
    assert [cp for cp, _ in station_ids(from_run)] == ["DE.AMS-1", "DE.AMS-2"]  # not DE-DE.AMS-1


def test_an_id_prefix_that_makes_pattern_ids_too_long_is_a_usage_error(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setattr("fleetsim.cli.run._execute", lambda *args, **_: started.append(args))
    prefix = "P" * (MAX_ID_LENGTH - len("-NL-AMS-0001") + 1)  # 38: the default ids' bound, too long here
    result = fleetsim("run", str(write(tmp_path, FLEET)), "--id-prefix", prefix, "--out", str(tmp_path / "never"))
    assert result.exit_code == 2, result.output
    error = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and "--id-prefix" in error[0]
    assert f"{prefix}-NL-AMS-0001" in error[0] and f"{MAX_ID_LENGTH + 1} characters, more than {MAX_ID_LENGTH}" \
        in error[0] and "'{prefix}-NL-AMS-{n:04d}'" in error[0]
    assert started == [] and not (tmp_path / "never").exists()


# ---------------------------------------------------------------- --stations


@pytest.mark.parametrize(("stations", "expected"), [
    (100, {WENZHOU: 60, BIONEVER: 25, TAESEONG: 15}),
    (7, {WENZHOU: 4, BIONEVER: 2, TAESEONG: 1}),
    (3000, {WENZHOU: 1800, BIONEVER: 750, TAESEONG: 450}),
])
def test_stations_scales_the_groups_in_proportion(tmp_path: Path, captured: Any, stations: int,
                                                  expected: dict[str, int]) -> None:
    spec, result = captured(str(write(tmp_path, FLEET)), "--stations", str(stations))
    assert spec.stations_per_model() == expected
    assert len({cp for cp, _ in station_ids(spec)}) == stations
    assert "warning" not in result.stderr


def test_a_group_that_rounds_to_none_is_left_out_and_said(tmp_path: Path, captured: Any) -> None:
    spec, result = captured(str(write(tmp_path, FLEET)), "--stations", "2")
    assert spec.stations_per_model() == {WENZHOU: 1, BIONEVER: 1}
    assert ("warning: --stations 2: groups[2] (Type 1, 150 of the file's 1000 stations) rounds to none and is left "
            "out of the run") in result.stderr


def test_scenario_check_prints_the_resized_plan(tmp_path: Path) -> None:
    result = fleetsim("scenario", "check", str(write(tmp_path, FLEET)), "--stations", "2")
    assert result.exit_code == 0, result.output
    assert "stations: 2 (--stations: the file's 1000, each group scaled in proportion)" in result.stdout
    assert "left out, rounding to none: groups[2] Type 1 (150 in the file)" in result.stdout
    assert f"1 × {WENZHOU}" in result.stdout and TAESEONG not in result.stdout.split("groups:")[1]
    assert "rounds to none" in result.stderr


@pytest.mark.parametrize("command", [("run",), ("scenario", "check")])
@pytest.mark.parametrize("stations", ["0", "1000001", "many"])
def test_a_bad_station_count_is_a_usage_error(tmp_path: Path, command: tuple[str, ...], stations: str) -> None:
    result = fleetsim(*command, str(write(tmp_path, FLEET)), "--stations", stations)
    assert result.exit_code == 2 and "--stations" in result.stderr and "Traceback" not in result.output
