"""A scenario resized (``--stations N``): the groups scaled in proportion by
the largest remainder, exactly N in all; a group that rounds to none is left
out and named; the ids of the resized groups are checked again."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetsim.cli.scenario import run_spec, scenario_plan
from fleetsim.engine.run import station_ids
from fleetsim.inputs import MAX_STATIONS
from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import load_scenario, resize_scenario
from fleetsim.scenario.scale import LeftOut, proportional

BIONEVER, WENZHOU, TAESEONG = "bionever-bss011k-v1000", "wenzhou-bsec-22k-a-2-ccs2-400s", "taeseongcontech-tsct-2007cp"


def group(model: str, stations: int, extra: str = "") -> str:
    return f'[[groups]]\nmodel = "{model}"\nstations = {stations}\n{extra}'


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path)


@pytest.mark.parametrize(
    ("sizes", "total", "expected"),
    [
        ([600, 250, 150], 100, [60, 25, 15]),  # exact
        ([600, 250, 150], 7, [4, 2, 1]),  # 4.2, 1.75, 1.05: the largest remainder (0.75) gets the 7th
        ([600, 250, 150], 2, [1, 1, 0]),  # 1.2, 0.5, 0.3
        ([1, 1, 1], 2, [1, 1, 0]),  # ties: the earlier group
        ([1, 1, 1], 1, [1, 0, 0]),
        ([3], 1000, [1000]),
        ([1, 2], 3_000, [1000, 2000]),
    ],
)
def test_the_groups_are_scaled_by_the_largest_remainder(sizes: list[int], total: int, expected: list[int]) -> None:
    assert proportional(sizes, total) == expected


@given(st.lists(st.integers(1, MAX_STATIONS), min_size=1, max_size=40), st.integers(1, MAX_STATIONS))
def test_the_parts_add_up_exactly_and_each_is_its_share_rounded(sizes: list[int], total: int) -> None:
    counts = proportional(sizes, total)
    assert sum(counts) == total
    whole = sum(sizes)
    for size, count in zip(sizes, counts, strict=True):
        # Each part is its exact share rounded down or up (|count - exact| < 1), in integers.
        assert count * whole - total * size > -whole and count * whole - total * size < whole


def test_a_resized_scenario_has_exactly_n_stations_in_proportion(tmp_path: Path) -> None:
    loaded = load(tmp_path, group(WENZHOU, 600, 'id_pattern = "NL-AMS-{n:04d}"\n') + group(BIONEVER, 250)
                  + group(TAESEONG, 150))
    resized = resize_scenario(loaded, 40)
    assert [g.stations for g in resized.scenario.groups] == [24, 10, 6]
    assert resized.resize is not None and resized.resize.file_stations == 1000 and resized.resize.left_out == ()
    # Everything else a group says is kept: its ids, its model.
    assert resized.scenario.groups[0].id_pattern == "NL-AMS-{n:04d}"
    spec = run_spec(resized)
    assert sum(share.stations for share in spec.fleet) == 40
    assert len(station_ids(spec)) == len(set(station_ids(spec))) == 40
    grown = resize_scenario(loaded, 5000)
    assert [g.stations for g in grown.scenario.groups] == [3000, 1250, 750]


def test_a_group_that_rounds_to_none_is_left_out_and_the_plan_says_so(tmp_path: Path) -> None:
    loaded = load(tmp_path, group(WENZHOU, 600) + group(BIONEVER, 250) + group(TAESEONG, 150, 'name = "Type 1"\n'))
    resized = resize_scenario(loaded, 2)
    assert [g.model for g in resized.scenario.groups] == [WENZHOU, BIONEVER]
    assert resized.resize is not None and resized.resize.left_out == (LeftOut(2, "Type 1", 150),)
    spec = run_spec(resized)
    assert spec.stations_per_model() == {WENZHOU: 1, BIONEVER: 1}
    plan = scenario_plan(resized, spec)
    assert plan.stations == 2 and [g.label for g in plan.groups] == [WENZHOU, BIONEVER]
    assert any("groups[2] (Type 1, 150 of the file's 1000 stations) rounds to none and is left out" in warning
               for warning in plan.warnings)


def test_fewer_stations_than_groups_is_fine(tmp_path: Path) -> None:
    loaded = load(tmp_path, group(WENZHOU, 1) + group(BIONEVER, 1) + group(TAESEONG, 1))
    resized = resize_scenario(loaded, 1)
    assert [(g.model, g.stations) for g in resized.scenario.groups] == [(WENZHOU, 1)]
    assert [left.index for left in resized.resize.left_out] == [1, 2]  # type: ignore[union-attr]


def test_a_group_grown_past_what_its_ids_tell_apart_is_named(tmp_path: Path) -> None:
    # A{n} and A1{n} are apart up to A10; at 11 stations each, A11 is both.
    loaded = load(tmp_path, group(BIONEVER, 5, 'id_pattern = "A{n}"\n') + group(BIONEVER, 5, 'id_pattern = "A1{n}"\n'))
    assert [g.stations for g in resize_scenario(loaded, 20).scenario.groups] == [10, 10]
    with pytest.raises(ScenarioError) as raised:
        resize_scenario(loaded, 22)
    assert raised.value.field == "groups[1].id_pattern"
    assert "with --stations 22" in raised.value.message and "groups[0] makes it too" in raised.value.message
