"""The HdrHistogram every figure of fleetsim is recorded in: microseconds, 1 µs
to an hour, 3 significant digits (0.1 % resolution).

:class:`Histogram` is the ``hdrh`` library's histogram with the operations a
load run repeats made cheap; the counts array, encoding and decoding stay the
library's, so ``.hlog`` files and every HdrHistogram tool agree with us.
"""

from __future__ import annotations

import ctypes
import sys
import weakref
import zlib
from bisect import bisect_left
from collections.abc import Iterable
from functools import partial
from itertools import accumulate

from hdrh.codec import HdrHistogramEncoder, HdrPayload
from hdrh.codec import payload_header_size as _PAYLOAD_HEADER_SIZE
from hdrh.histogram import HdrHistogram
from pyhdrh import encode as varint_encode  # the library's own C encoder

from fleetsim.metrics.units import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS
from fleetsim.metrics.units import us as us  # (re-exported: the unit's conversion)


class Histogram(HdrHistogram):
    """An HdrHistogram whose hot and periodic operations are fast:

    * ``record_value`` is computed inline.  Recording is on the hot path of
      every exchange; the library's method spends about 1 µs in five method
      calls and a ``bin()`` string; this one does the same arithmetic (bucket
      by the value's bit length, sub-bucket by shifting) in one.
    * ``zero`` clears it in place with one ``memset`` (2 µs); the library's
      ``reset`` is a Python loop over 23,552 counters (1 ms).  In place matters
      too: the engine keeps references to the histograms it records into.
    * ``get_value_at_percentile`` and ``values_at_percentiles`` sum the counts
      a block of 1,024 at a time in C and only walk the block the percentile is
      in (about 60 µs for all of p50…p99.9, against 0.6 ms *each* in the library).
    * ``add`` keeps the minimum right when this histogram is empty (the library
      then takes 0 as its minimum) and skips empty histograms.
    * It makes no reference cycle: freed as soon as it is let go.

    Property tests check each against the library value by value.
    """

    def __init__(self, lowest: int, highest: int, significant_digits: int,
                 hdr_payload: HdrPayload | None = None) -> None:
        super().__init__(lowest, highest, significant_digits, hdr_payload=hdr_payload)
        # The library's encoder and histogram refer to each other: a cycle,
        # so each 188 KB histogram waited for the cyclic collector (merging
        # two shards' logs peaked at 885 MB).  A weak reference back makes
        # them go when their last user lets go.
        self.encoder.histogram = weakref.proxy(self)
        payload = self.encoder.payload
        payload.compress = partial(_compress, payload)  # see _compress
        self._bucket_shift = self.unit_magnitude + self.sub_bucket_half_count_magnitude + 1

    def record_value(self, value: int, count: int = 1) -> bool:
        if value < 0:
            return False
        bucket = (value | self.sub_bucket_mask).bit_length() - self._bucket_shift
        index = ((bucket + 1) << self.sub_bucket_half_count_magnitude) + (
            (value >> (bucket + self.unit_magnitude)) - self.sub_bucket_half_count
        )
        if index >= self.counts_len:
            return False
        self.counts[index] += count
        self.total_count += count
        if value < self.min_value:
            self.min_value = value
        if value > self.max_value:
            self.max_value = value
        return True

    def zero(self) -> None:
        ctypes.memset(ctypes.addressof(self.counts), 0, ctypes.sizeof(self.counts))
        self.total_count = 0
        self.min_value = sys.maxsize
        self.max_value = 0

    def add(self, other: HdrHistogram) -> None:
        if other.total_count == 0:
            return
        minimum = self.min_value if self.total_count else sys.maxsize
        super().add(other)
        self.min_value = min(minimum, other.min_value)

    def get_value_at_percentile(self, percentile: float) -> int:
        return self.values_at_percentiles((percentile,))[percentile]

    def values_at_percentiles(self, percentiles: Iterable[float]) -> dict[float, int]:
        """The library's ``get_value_at_percentile`` for each, in one pass."""
        wanted = sorted(set(percentiles), key=self.get_target_count_at_percentile)
        found = dict.fromkeys(wanted, 0)
        if self.total_count == 0 or not wanted:
            return found
        counts = self._counts_to_max()
        block = self.sub_bucket_half_count
        running, pending = 0, list(wanted)
        for start in range(0, len(counts), block):
            block_counts = counts[start:start + block]
            block_total = sum(block_counts)
            if self.get_target_count_at_percentile(pending[0]) <= running + block_total:
                cumulative = list(accumulate(block_counts, initial=running))[1:]
                while pending and (target := self.get_target_count_at_percentile(pending[0])) <= cumulative[-1]:
                    percentile = pending.pop(0)
                    value = self.get_value_from_index(start + bisect_left(cumulative, target))
                    found[percentile] = (self.get_highest_equivalent_value(value) if percentile
                                         else self.get_lowest_equivalent_value(value))
                if not pending:
                    break
            running += block_total
        return found

    def count_above(self, value: int) -> int:
        """How many recorded values are above ``value``, at the histogram's
        resolution (a value in the same 0.1 % bucket counts as equal)."""
        if value >= self.max_value:
            return 0
        return self.total_count - sum(self._counts_to_max()[: self._counts_index_for(value) + 1])

    def _counts_to_max(self) -> list[int]:
        top = min(self._counts_index_for(self.max_value), self.counts_len - 1)
        return memoryview(self.counts).cast("B").cast("Q")[: top + 1].tolist()


class _EncodeBuffer:
    """One buffer to varint-encode counts into, grown to the largest asked
    for and kept: the library makes a ctypes array *type* of the exact size
    for every encoding, a class with reference cycles, and the interval
    writer encodes every series every interval, so the collector had dozens
    of classes a second to collect, a millisecond at a time."""

    def __init__(self) -> None:
        self.size = 0
        self.buffer: ctypes.Array[ctypes.c_byte] | None = None

    def at_least(self, size: int) -> ctypes.Array[ctypes.c_byte]:
        if self.buffer is None or size > self.size:
            self.size = max(size, 2 * self.size)
            self.buffer = (ctypes.c_byte * self.size)()
        return self.buffer


_encode_buffer = _EncodeBuffer()


def _compress(payload: HdrPayload, counts_limit: int) -> bytes:
    """``HdrPayload.compress`` (hdrh/codec.py), the same bytes, into the
    shared buffer instead of a buffer of a new type."""
    if not payload.payload:
        raise RuntimeError("No payload to compress")
    varint_len = counts_limit * (payload.word_size + 1)  # the worst case: one more byte a counter
    # Sized for the whole counts array at once: one buffer type for good.
    buffer = _encode_buffer.at_least(_PAYLOAD_HEADER_SIZE + payload.counts_len * (payload.word_size + 1))
    start = ctypes.addressof(buffer)
    varint_len = varint_encode(ctypes.addressof(payload.counts), counts_limit, payload.word_size,
                               start + _PAYLOAD_HEADER_SIZE, varint_len)
    payload.payload.payload_len = varint_len
    ctypes.memmove(start, ctypes.addressof(payload.payload), _PAYLOAD_HEADER_SIZE)
    return zlib.compress(ctypes.string_at(start, _PAYLOAD_HEADER_SIZE + varint_len))


def new_histogram() -> Histogram:
    return Histogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def from_encoded(encoded: str | bytes) -> Histogram:
    """A histogram of ours holding what an ``.hlog`` line's payload holds.
    A payload of our settings becomes the histogram itself (reading a log is
    a decode per line: one allocation, not three); another tool's is added
    into one of ours."""
    payload = HdrHistogramEncoder.decode(encoded)
    settings = payload.payload
    if (settings.lowest_trackable_value, settings.highest_trackable_value,
            settings.significant_figures) == (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS):
        return Histogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS, hdr_payload=payload)
    histogram = new_histogram()
    histogram.add(HdrHistogram.decode(encoded))
    return histogram
