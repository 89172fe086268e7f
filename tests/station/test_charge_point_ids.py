"""Charge point id patterns that name the id prefix (``{prefix}``), and the
pattern an id prefix given for one run makes of a group's own pattern."""

from __future__ import annotations

import pytest

from fleetsim.station.build import MAX_ID_LENGTH, check_fleet_ids, group_ids, prefixed_pattern, uses_prefix


def test_a_pattern_places_the_prefix_where_it_says() -> None:
    assert group_ids("{prefix}.AMS-{n:03d}", "NL", "m", 2) == ["NL.AMS-001", "NL.AMS-002"]
    assert group_ids("AMS-{n}-{prefix[0]}", "NL", "m", 1) == ["AMS-1-N"]


@pytest.mark.parametrize(
    ("pattern", "uses", "prefixed"),
    [
        ("NL-AMS-{n:04d}", False, "{prefix}-NL-AMS-{n:04d}"),
        ("{prefix}.AMS-{n}", True, "{prefix}.AMS-{n}"),
        ("AMS-{n}-{prefix:.2}", True, "AMS-{n}-{prefix:.2}"),
        ("{{prefix}}-{n}", False, "{prefix}-{{prefix}}-{n}"),  # escaped braces: the text "{prefix}", no field
        ("{model}-{n}", False, "{prefix}-{model}-{n}"),
    ],
)
def test_a_run_prefix_goes_before_a_pattern_that_does_not_place_it(pattern: str, uses: bool, prefixed: str) -> None:
    assert uses_prefix(pattern) is uses
    assert prefixed_pattern(pattern) == prefixed
    assert prefixed_pattern(prefixed_pattern(pattern)) == prefixed  # once only


def test_two_prefixes_give_two_disjoint_sets_of_ids() -> None:
    pattern = prefixed_pattern("NL-AMS-{n:04d}")
    first, second = group_ids(pattern, "A", "m", 500), group_ids(pattern, "B", "m", 500)
    assert first[0] == "A-NL-AMS-0001" and second[-1] == "B-NL-AMS-0500"
    assert not set(first) & set(second)


def test_a_prefix_that_makes_a_pattern_id_too_long_is_named() -> None:
    prefix = "P" * (MAX_ID_LENGTH - len("-NL-AMS-0001") + 1)
    with pytest.raises(ValueError, match=f"has {MAX_ID_LENGTH + 1} characters, more than {MAX_ID_LENGTH}"):
        check_fleet_ids([(prefixed_pattern("NL-AMS-{n:04d}"), "m", 3)], prefix)
    check_fleet_ids([(prefixed_pattern("NL-AMS-{n:04d}"), "m", 3)], prefix[1:])  # one shorter fits
