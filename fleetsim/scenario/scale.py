"""A scenario's fleet resized (``fleetsim run SCENARIO --stations N``): every
group scaled in proportion to its stations, exactly N in all, so that a
scenario is split over processes or machines, or tried small, without
editing its file."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from fleetsim.scenario.schema import Group


class LeftOut(msgspec.Struct, frozen=True):
    """A group whose share of the resized fleet rounds to no station."""

    index: int  # in the file's [[groups]]
    label: str
    stations: int  # the file's


class Resize(msgspec.Struct, frozen=True):
    stations: int  # asked for: the resized fleet has exactly this many
    file_stations: int  # the file's groups, in all
    left_out: tuple[LeftOut, ...] = ()


def proportional(sizes: Sequence[int], total: int) -> list[int]:
    """``total`` split over ``sizes`` in proportion, by the largest remainder
    (Hamilton's method): each part is its exact share rounded down, and the
    parts with the largest remainders get one more until they add up to
    ``total``; ties go to the earlier part.  Integer arithmetic, so exact at
    any size."""
    whole = sum(sizes)
    if whole <= 0 or total < 0 or any(size < 0 for size in sizes):
        raise ValueError(f"cannot split {total} over {list(sizes)}")
    parts, remainders = zip(*(divmod(total * size, whole) for size in sizes), strict=True)
    counts = list(parts)
    short = total - sum(counts)  # fewer than len(sizes): each remainder is below one part
    for index in sorted(range(len(counts)), key=lambda i: remainders[i], reverse=True)[:short]:
        counts[index] += 1
    return counts


def scale_groups(groups: Sequence[Group], stations: int) -> tuple[tuple[Group, ...], Resize]:
    """The groups with ``stations`` in all, each in proportion to its own
    count; a group whose part rounds to none is left out (and named in the
    Resize), the others keep everything else they say."""
    counts = proportional([group.stations for group in groups], stations)
    kept = tuple(msgspec.structs.replace(group, stations=count)
                 for group, count in zip(groups, counts, strict=True) if count > 0)
    left_out = tuple(LeftOut(index, group.label, group.stations)
                     for index, (group, count) in enumerate(zip(groups, counts, strict=True)) if count == 0)
    return kept, Resize(stations, sum(group.stations for group in groups), left_out)
