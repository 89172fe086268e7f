"""The inline-recording histogram fills exactly the counts the HdrHistogram
library would."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.metrics.recorder import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, new_histogram

values = st.lists(st.integers(min_value=0, max_value=HIGHEST_US * 2), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(values)
def test_recording_matches_the_library_value_by_value(recorded: list[int]) -> None:
    ours, theirs = new_histogram(), HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in recorded:
        assert ours.record_value(value) == theirs.record_value(value)
    assert list(ours.counts) == list(theirs.counts)
    assert (ours.total_count, ours.min_value, ours.max_value) == (theirs.total_count, theirs.min_value, theirs.max_value)
    for percentile in (50, 90, 99, 99.9, 100):
        assert ours.get_value_at_percentile(percentile) == theirs.get_value_at_percentile(percentile)


def test_edges_of_every_bucket_land_where_the_library_puts_them() -> None:
    ours, theirs = new_histogram(), HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    edges = {v for power in range(33) for v in (2**power - 1, 2**power, 2**power + 1)}
    for value in sorted(edges):
        ours.record_value(value)
        theirs.record_value(value)
    assert list(ours.counts) == list(theirs.counts)
    # The encoded form (what .hlog files hold) is the library's, byte for byte.
    assert ours.encode() == theirs.encode()
