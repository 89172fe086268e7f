"""Which station count a capacity search tries next (fleetsim.capacity.search)."""

from __future__ import annotations

import pytest

from fleetsim.capacity.search import BISECT, STEP, Search, SearchError, SearchPlan


def run_search(plan: SearchPlan, capacity: int) -> tuple[list[int], Search]:
    """Every count tried against a CSMS that passes up to ``capacity`` stations."""
    search = Search(plan)
    tried = []
    while (count := search.next()) is not None:
        tried.append(count)
        search.record(count, count <= capacity)
        assert len(tried) < 100
    return tried, search


def test_steps_up_by_a_step_then_bisects_to_the_resolution() -> None:
    tried, search = run_search(SearchPlan(start=100, step=100, maximum=1000, resolution=0.05), capacity=437)
    assert tried[:5] == [100, 200, 300, 400, 500]
    # 5 % of the failing count: 450 - 437 = 13 is within 22.5, so the search ends there.
    assert tried[5:] == [450, 425, 437]
    assert search.passed == 437 and search.failed == 450


def test_a_factor_doubles_and_the_gap_ends_within_the_resolution() -> None:
    tried, search = run_search(SearchPlan(start=50, factor=2.0, maximum=10_000, resolution=0.05), capacity=1234)
    assert tried[:6] == [50, 100, 200, 400, 800, 1600]
    assert search.passed is not None and search.failed is not None
    assert search.passed <= 1234 < search.failed
    assert search.failed - search.passed <= 0.05 * search.failed
    assert len(tried) <= 6 + 4  # 800..1600 halved to 5 % takes four bisections


def test_phases_are_named() -> None:
    search = Search(SearchPlan(start=10, step=10, maximum=30))
    assert search.next() == 10 and search.phase == STEP
    search.record(10, False)
    assert search.next() == 5 and search.phase == BISECT


def test_every_step_passing_ends_at_the_maximum() -> None:
    tried, search = run_search(SearchPlan(start=100, factor=3.0, maximum=1000), capacity=10**6)
    assert tried == [100, 300, 900, 1000]
    assert search.failed is None and search.passed == 1000


def test_a_first_step_that_fails_bisects_below_it() -> None:
    tried, search = run_search(SearchPlan(start=100, step=100, maximum=1000, resolution=0.05), capacity=30)
    assert tried[0] == 100 and tried[1] == 50
    assert search.passed == 30 and search.failed == 31


def test_nothing_passes_at_all() -> None:
    tried, search = run_search(SearchPlan(start=8, step=8, maximum=64), capacity=0)
    assert tried == [8, 4, 2, 1]
    assert search.passed is None and search.failed == 1


def test_a_count_not_asked_for_is_refused() -> None:
    search = Search(SearchPlan(start=10, step=10, maximum=30))
    assert search.next() == 10
    with pytest.raises(ValueError, match="10 was asked for"):
        search.record(20, True)


@pytest.mark.parametrize(("plan", "message"), [
    (SearchPlan(start=10, maximum=100), "a step .* or a factor"),
    (SearchPlan(start=10, step=5, factor=2.0, maximum=100), "one of them"),
    (SearchPlan(start=0, step=5, maximum=100), "starts at 1"),
    (SearchPlan(start=200, step=5, maximum=100), "at least the start"),
    (SearchPlan(start=10, factor=1.0, maximum=100), "factor is 1.01 to 100"),
    (SearchPlan(start=10, factor=float("nan"), maximum=100), "factor"),
    (SearchPlan(start=10, step=5, maximum=100, resolution=0.0), "resolution"),
    (SearchPlan(start=10, step=5, maximum=100, resolution=0.9), "resolution"),
])
def test_a_plan_that_cannot_be_searched_says_why(plan: SearchPlan, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        Search(plan)
