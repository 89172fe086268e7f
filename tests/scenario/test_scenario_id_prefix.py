"""Id patterns in a scenario file that place the id prefix (``{prefix}``):
they follow run.id_prefix, and an id they make too long is named on the
group's id_pattern, saying where {prefix} comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.cli.scenario import run_spec
from fleetsim.engine.run import share_ids
from fleetsim.scenario.errors import ScenarioError
from fleetsim.scenario.load import load_scenario
from fleetsim.station.build import MAX_ID_LENGTH

GROUP = '[[groups]]\nmodel = "bionever-bss011k-v1000"\nstations = 2\nid_pattern = "{prefix}.AMS-{n:02d}"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_a_pattern_placing_the_prefix_follows_the_files_id_prefix(tmp_path: Path) -> None:
    spec = run_spec(load_scenario(write(tmp_path, GROUP + '[run]\nid_prefix = "NL"\n')))
    assert share_ids(spec, spec.fleet[0]) == ["NL.AMS-01", "NL.AMS-02"]
    assert spec.fleet[0].id_pattern == "{prefix}.AMS-{n:02d}"  # as written: the file's prefix adds nothing
    overridden = run_spec(load_scenario(write(tmp_path, GROUP + '[run]\nid_prefix = "NL"\n')), {"id_prefix": "DE"})
    assert share_ids(overridden, overridden.fleet[0]) == ["DE.AMS-01", "DE.AMS-02"]


def test_a_file_prefix_too_long_for_its_pattern_is_named(tmp_path: Path) -> None:
    prefix = "P" * (MAX_ID_LENGTH - len(".AMS-01") + 1)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(write(tmp_path, GROUP + f'[run]\nid_prefix = "{prefix}"\n'))
    assert raised.value.field == "groups[0].id_pattern"
    assert f"more than {MAX_ID_LENGTH}" in raised.value.message and "({prefix} is run.id_prefix)" in \
        raised.value.message
