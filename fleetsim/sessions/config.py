"""What a fleet group's charging sessions follow: a statistical segment model
or a recorded file to replay.  These Structs are the scenario file's
``[groups.sessions]`` tables as they are (fleetsim.scenario decodes TOML
straight into them), so every field name here is a name users write.

Durations are simulated seconds unless the name says otherwise; time
acceleration shrinks them on the engine's clock, never here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import msgspec


class _Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


Count = Annotated[int, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class Segment(StrEnum):
    """The charging segments whose fitted figures ship with fleetsim
    (scenarios/data/README.md)."""

    AC_PUBLIC = "ac-public"  # ElaadNL, public AC in the Netherlands
    AC_WORKPLACE = "ac-workplace"  # ElaadNL
    AC_HOME = "ac-home"  # ElaadNL (private)
    AC_CAMPUS = "ac-campus"  # ACN-Data, Caltech 2019
    DC_FAST = "dc-fast"  # ACN-Data, Caltech 2021 DC fast charger


class IdTags(_Config):
    """The id tags drivers present, and how sessions start.

    Tags are ``<prefix>-<kind>-<n>`` (e.g. ``TAG-V-00042``): ``valid`` of them
    are known to the CSMS as Accepted, ``blocked`` as Blocked, ``expired`` as
    Expired, ``invalid`` as Invalid; an ``unknown`` share of sessions presents a
    tag no CSMS knows.  Against the embedded CSMS these lists are given to it;
    against another CSMS, provision the same tags there (``fleetsim scenario
    check`` prints them)."""

    prefix: str = "TAG"
    valid: Count = 1000
    blocked: Count = 0
    expired: Count = 0
    invalid: Count = 0
    blocked_share: Share = 0.0  # of sessions
    expired_share: Share = 0.0
    invalid_share: Share = 0.0
    unknown_share: Share = 0.0
    remote_start_share: Share = 0.0  # sessions started by the CSMS (the driver's app), not by RFID


class SegmentSessions(_Config, tag="segment", tag_field="model"):
    """Sessions drawn from a segment's fitted distributions: Poisson arrivals
    whose rate follows the hour of day (weekday / weekend), lognormal
    connection times and energies, the EV from the Dutch fleet's mix."""

    segment: Segment
    # Mean sessions per connector per (simulated) day; None: the segment's own
    # figure (a typical utilisation of its chargers).
    sessions_per_connector_per_day: Annotated[float, msgspec.Meta(ge=0)] | None = None
    id_tags: IdTags = IdTags()


class ReplaySessions(_Config, tag="replay", tag_field="model"):
    """Sessions replayed from a CSV file of recorded ones (columns arrival,
    departure, delivered_energy_kwh, station_id; local times with offsets)."""

    file: str  # relative to the scenario file
    # "time-of-day": the first day of the file starts at the run's start date,
    # each session at its own local time of day; "now": the first session
    # arrives when the run starts.
    shift: Literal["time-of-day", "now"] = "time-of-day"
    id_tags: IdTags = IdTags()


SessionConfig = SegmentSessions | ReplaySessions
