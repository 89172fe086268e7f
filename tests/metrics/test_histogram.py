"""The fast histogram fills exactly the counts the HdrHistogram library would,
and its fast operations (percentiles, zeroing, adding) give the library's
answers."""

from __future__ import annotations

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.metrics.histogram import from_encoded
from fleetsim.metrics.recorder import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, Recording, new_histogram
from fleetsim.metrics.units import us

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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-5, max_value=HIGHEST_US * 2), min_size=1, max_size=200))
def test_the_hot_paths_recording_is_the_librarys_record_value(recorded: list[int]) -> None:
    ours, theirs = new_histogram(), HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    recording = Recording(ours)
    for value in recorded:
        recording.record(value)
        if value >= 0:
            theirs.record_value(value)
    assert list(ours.counts) == list(theirs.counts)
    assert (ours.total_count, ours.min_value, ours.max_value) == (
        theirs.total_count, theirs.min_value, theirs.max_value)
    assert ours.encode() == theirs.encode()


def test_recording_goes_on_into_a_histogram_zeroed_and_added_to() -> None:
    histogram, other = new_histogram(), new_histogram()
    recording = Recording(histogram)
    for value in (7, 9_000, 2_000_000_000):
        recording.record(value)
    histogram.zero()
    other.record_value(300)
    histogram.add(other)
    recording.record(5)
    library = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in (300, 5):
        library.record_value(value)
    assert (histogram.total_count, histogram.get_min_value(), histogram.get_max_value()) == (2, 5, 300)
    assert histogram.encode() == library.encode()


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.floats(min_value=-1.0, max_value=4_000.0),
                 st.integers(min_value=0, max_value=4_000_000_000).map(lambda n: n / 1e6),
                 st.integers(min_value=0, max_value=8_000_000_000).map(lambda n: (n + 0.5) / 1e6)))
def test_seconds_become_microseconds_as_round_rounds_them(seconds: float) -> None:
    rounded = round(seconds * 1_000_000)
    assert us(seconds) == min(max(rounded, LOWEST_US), HIGHEST_US)


def test_halves_of_a_microsecond_round_to_even() -> None:
    assert [us(micros / 1e6) for micros in (1.5, 2.5, 3.5, 4.5)] == [2, 2, 4, 4]
    assert (us(0.0), us(-3.0), us(3_600.5), us(1e300)) == (LOWEST_US, LOWEST_US, HIGHEST_US, HIGHEST_US)


def test_edges_of_every_bucket_land_where_the_library_puts_them() -> None:
    ours, theirs = new_histogram(), HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    edges = {v for power in range(33) for v in (2**power - 1, 2**power, 2**power + 1)}
    for value in sorted(edges):
        ours.record_value(value)
        theirs.record_value(value)
    assert list(ours.counts) == list(theirs.counts)
    # The encoded form (what .hlog files hold) is the library's, byte for byte.
    assert ours.encode() == theirs.encode()


# ---------------------------------------------------------------- the fast operations, against the library


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=8))
def test_percentiles_in_one_pass_are_the_librarys(recorded: list[int], percentiles: list[float]) -> None:
    ours = new_histogram()
    for value in recorded:
        ours.record_value(value)
    found = ours.values_at_percentiles(percentiles)
    for percentile in percentiles:
        assert found[percentile] == HdrHistogram.get_value_at_percentile(ours, percentile)
        assert ours.get_value_at_percentile(percentile) == found[percentile]


def test_percentiles_of_an_empty_histogram_are_zero_like_the_librarys() -> None:
    assert new_histogram().values_at_percentiles((50.0, 99.0)) == {50.0: 0, 99.0: 0}
    assert HdrHistogram.get_value_at_percentile(new_histogram(), 99.0) == 0


@settings(max_examples=100, deadline=None)
@given(values, st.integers(min_value=0, max_value=HIGHEST_US))
def test_count_above_counts_what_lies_above_the_values_bucket(recorded: list[int], limit: int) -> None:
    ours = new_histogram()
    kept = [value for value in recorded if ours.record_value(value)]
    above = sum(1 for v in kept if v > limit and not ours.values_are_equivalent(v, limit))
    assert ours.count_above(limit) == above


def test_zero_clears_in_place_like_a_new_histogram() -> None:
    histogram = new_histogram()
    counts = histogram.counts
    for value in (1, 500, 70_000, 3_000_000_000):
        histogram.record_value(value)
    histogram.zero()
    assert histogram.counts is counts  # the engine holds references: cleared, not replaced
    assert not any(histogram.counts)
    assert (histogram.total_count, histogram.get_max_value(), histogram.get_min_value()) == (0, 0, 0)
    assert histogram.encode() == new_histogram().encode()
    histogram.record_value(42)
    library = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    library.record_value(42)
    assert (histogram.get_min_value(), histogram.get_max_value()) == (library.get_min_value(), library.get_max_value())
    assert histogram.encode() == library.encode()


def test_adding_into_an_empty_histogram_keeps_the_minimum() -> None:
    # The library's add takes an empty histogram's minimum as 0.
    source, total = new_histogram(), new_histogram()
    source.record_value(2_000_000)
    total.add(source)
    total.add(new_histogram())  # an empty interval changes nothing
    assert total.get_min_value() == source.get_min_value() > 0
    assert total.total_count == 1 and total.get_max_value() == source.get_max_value()


@settings(max_examples=100, deadline=None)
@given(values)
def test_a_decoded_payload_is_the_library_decode_of_it(recorded: list[int]) -> None:
    theirs = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in recorded:
        theirs.record_value(value)
    ours, decoded = from_encoded(theirs.encode()), HdrHistogram.decode(theirs.encode())
    assert list(ours.counts) == list(decoded.counts)
    assert (ours.total_count, ours.min_value, ours.max_value) == (
        decoded.total_count, decoded.min_value, decoded.max_value)
    assert ours.values_at_percentiles((50, 99.9)) == {p: decoded.get_value_at_percentile(p) for p in (50, 99.9)}
    ours.record_value(5)  # ours: the fast operations work on it
    assert ours.total_count == decoded.total_count + 1


def test_a_payload_of_other_settings_is_added_into_ours() -> None:
    other = HdrHistogram(1, 60_000_000, 2)  # another tool's: 2 significant digits, a minute
    for value in (5, 5_000, 59_000_000):
        other.record_value(value)
    ours = from_encoded(other.encode())
    assert (ours.total_count, ours.significant_figures, ours.highest_trackable_value) == (3, 3, HIGHEST_US)
    assert ours.get_max_value() == pytest.approx(other.get_max_value(), rel=0.01)  # at the other's resolution


def test_a_decoded_log_payload_is_the_same_histogram() -> None:
    histogram = new_histogram()
    for value in (3, 3, 900, 1_234_567):
        histogram.record_value(value)
    decoded = from_encoded(histogram.encode())
    assert list(decoded.counts) == list(histogram.counts)
    assert decoded.total_count == 4 and decoded.get_max_value() == histogram.get_max_value()


def test_a_histogram_is_freed_when_let_go_without_the_cyclic_collector() -> None:
    import gc
    import weakref

    from fleetsim.metrics.histogram import from_encoded, new_histogram

    gc.disable()
    try:
        made = new_histogram()
        made.record_value(1234)
        decoded = from_encoded(made.encode())
        assert decoded.get_value_at_percentile(100.0) == made.get_value_at_percentile(100.0)  # still encodes
        refs = [weakref.ref(made), weakref.ref(decoded)]
        del made, decoded
        assert [ref() for ref in refs] == [None, None]  # 188 KB each: no waiting for a collection
    finally:
        gc.enable()


def test_encoding_gives_the_librarys_bytes_and_leaves_nothing_for_the_collector() -> None:
    import gc
    import random

    from hdrh.histogram import HdrHistogram

    from fleetsim.metrics.histogram import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, new_histogram

    rng = random.Random(5)
    ours = new_histogram()
    library = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    scales = (10, 10**3, 10**6, 10**9, 10**3)  # counts arrays of many lengths, up and down
    for scale in scales:
        for _ in range(300):
            value = rng.randint(1, scale)
            ours.record_value(value)
            library.record_value(value)
        assert ours.encode() == library.encode()
        ours.zero()
        library.reset()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for scale in scales:
            ours.record_value(scale)
            ours.encode()
        gc.collect()
        # The library makes a ctypes array type per encoding: cycles, every series, every interval.
        assert gc.garbage == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
