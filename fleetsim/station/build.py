"""From a certificate profile to the station model every station of it shares.

Where a certificate leaves a physical figure out, the defaults below apply
(each is what the certified hardware's class typically has):

| missing figure | default | why |
| --- | --- | --- |
| AC current per connector | 32 A | the Type 1 / Type 2 cable rating of 7.4 / 22 kW stations |
| AC phases of a connector | 3 if HFS-7, else 1 | the hardware feature set |
| DC power of a connector | HFS-11 (the station's DC power), else 50 kW | a station delivers its rating on one connector |
| declared response timeout | 30 s | the OCTT's default when a vendor declares none |
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence

from fleetsim.inputs import MAX_QUOTED_CHARS, MAX_STATIONS, clip, quote
from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles.configuration import build_configuration
from fleetsim.profiles.profile import CableKind, CurrentType, StationProfile, Timing
from fleetsim.profiles.reaction import ReactionTime
from fleetsim.station.config import ModelConfiguration
from fleetsim.station.model import DelaySampler, StationModel, no_delay
from fleetsim.station.power import ConnectorRating

DEFAULT_AC_CURRENT_A = 32.0
DEFAULT_DC_POWER_KW = 50.0
DEFAULT_RESPONSE_TIMEOUT_S = 30.0


def build_model(profile: StationProfile) -> StationModel:
    hardware = profile.hardware
    supported = set(profile.supported_profiles)
    if FeatureProfile.SECURITY in profile.profiles_passed:
        supported.add(FeatureProfile.SECURITY)
    performance = profile.performance
    return StationModel(
        model_id=profile.id,
        vendor=(profile.vendor or "Unknown"),
        model=(profile.model or profile.id),
        firmware_version=profile.firmware_version,
        ratings=_ratings(profile),
        fixed_cable=bool(hardware.fixed_cable) or any(c.cable == CableKind.FIXED for c in hardware.connectors),
        supported=frozenset(supported),
        security_profiles=profile.security.profiles,
        configuration=ModelConfiguration(build_configuration(profile)),
        response_timeout_s=performance.response.declared_max_s or DEFAULT_RESPONSE_TIMEOUT_S,
        response_delay=_sampler(performance.response),
        triggered_delay=_sampler(performance.triggered),
        remote_start_delay=_sampler(performance.remote_start),
        remote_stop_delay=_sampler(performance.remote_stop),
        stop_transaction_before_power_down=bool(profile.answers.stop_transaction_before_power_down),
        reserve_connector_zero=bool(profile.features.reserve_whole_station),
        firmware_download_during_transaction=bool(profile.answers.firmware_download_during_transaction),
        last_root_certificate_removable=bool(profile.answers.last_root_certificate_removable),
        last_charge_point_certificate_removable=bool(profile.answers.last_charge_point_certificate_removable),
    )


def _ratings(profile: StationProfile) -> tuple[ConnectorRating, ...]:
    hardware = profile.hardware
    ratings = []
    for connector in hardware.connectors:
        dc = connector.current_type == CurrentType.DC or (connector.current_type is None and bool(hardware.dc_support))
        if dc:
            power_kw = connector.max_power_kw or hardware.dc_power_kw or DEFAULT_DC_POWER_KW
            ratings.append(ConnectorRating(dc=True, phases=0, max_current_a=power_kw * 1000 / 400, max_power_kw=power_kw))
            continue
        phases = connector.phases or (3 if hardware.three_phase else 1)
        current_a = connector.max_current_a or DEFAULT_AC_CURRENT_A
        power_kw = connector.max_power_kw or current_a * phases * 230 / 1000
        ratings.append(ConnectorRating(dc=False, phases=phases, max_current_a=current_a, max_power_kw=power_kw))
    return tuple(ratings) or (ConnectorRating(dc=False, phases=1, max_current_a=DEFAULT_AC_CURRENT_A, max_power_kw=7.4),)


def _sampler(timing: Timing) -> DelaySampler:
    """Reaction delays follow the lab's measurements; without them, none."""
    if timing.measured is None:
        return no_delay
    return ReactionTime.fit(timing.measured).sample


# The identity a station connects with is the last segment of its URL; 48
# characters like chargeBoxIdentity in OCPP 1.6 SOAP (CiString48) and the
# identity of OCPP 2.x (SetNetworkProfile identity, maxLength 48), which
# CSMSs commonly keep for 1.6-J too.  Its last 25 characters are also the
# station's chargePointSerialNumber (BootNotification, CiString25).
MAX_ID_LENGTH = 48
SERIAL_NUMBER_LENGTH = 25
# OCPP-J 1.6 §3.1.1: the id is the URL's last path segment, and security
# profiles 1-2 send it as the HTTP Basic user-id (RFC 7617: no ":").  So only
# RFC 3986 path characters that need no percent-encoding, less ":".
_ID_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=@]+")
_ID_ADVICE = "letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = @ (no space, / ? # : %)"
_ID_RULE = (f"a charge point id has at most {MAX_ID_LENGTH} characters (the OCPP identity, CiString48: the URL's "
            f"last segment and the Basic-auth user-id; its last {SERIAL_NUMBER_LENGTH} are the station's "
            "chargePointSerialNumber)")
# A format spec's width or precision: more than an id holds is no id.
_SPEC_NUMBER = re.compile(r"\d+")
_PATTERN_FIELDS = ("n", "model", "prefix")
_PATTERN_EXAMPLE = "a pattern of n, model and prefix, like 'AMS-{n:04d}'"


def _number_suffix(n: int) -> str:
    return f"-{n:05d}"


# The default ids are <prefix>-<model>-<n:05d>: the prefix must leave room
# for "-", at least one character of the model and the number of the
# largest fleet (MAX_STATIONS has 7 digits).
MAX_ID_PREFIX_LENGTH = MAX_ID_LENGTH - len(_number_suffix(MAX_STATIONS)) - 2


def group_ids(pattern: str | None, id_prefix: str, model: str, stations: int) -> list[str]:
    """The charge point ids of a fleet group's stations, n = 1..``stations``:
    ``pattern`` formatted with ``n``, ``model`` and ``prefix`` (``id_prefix``),
    or ``<id_prefix>-<model>-<n:05d>`` (the model shortened to fit, so that n
    survives).  Raises ValueError naming the first id that cannot be used;
    a pattern or prefix that could only make unusable ids is refused before
    any id is made."""
    if not 0 <= stations <= MAX_STATIONS:
        raise ValueError(f"{stations} stations: a fleet has at most {MAX_STATIONS:,}")
    if pattern is None:
        check_id_prefix(id_prefix)
    else:
        check_id_pattern(pattern)
    ids = []
    for n in range(1, stations + 1):
        if pattern is None:
            suffix = _number_suffix(n)
            text = f"{id_prefix}-{model}"[: MAX_ID_LENGTH - len(suffix)] + suffix
        else:
            try:
                text = pattern.format(n=n, model=model, prefix=id_prefix)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
                raise ValueError(f"{quote(pattern)} is not {_PATTERN_EXAMPLE} "
                                 f"({type(error).__name__}: {clip(str(error), MAX_QUOTED_CHARS)})") from None
        _check_id(text)
        ids.append(text)
    return ids


def uses_prefix(pattern: str) -> bool:
    """Whether the id pattern names the id prefix (``{prefix}``)."""
    try:
        return any(field is not None and field.partition("[")[0] == "prefix"
                   for _, field, _, _ in string.Formatter().parse(pattern))
    except ValueError:  # not a pattern at all: check_id_pattern says why
        return False


def prefixed_pattern(pattern: str) -> str:
    """The pattern with the id prefix before its ids (``{prefix}-<pattern>``),
    unless it places the prefix itself: what an id prefix given for one run
    (``--id-prefix``) makes of a group's pattern, so that two runs with two
    prefixes never share a charge point id."""
    return pattern if uses_prefix(pattern) else "{prefix}-" + pattern


def check_id_prefix(id_prefix: str) -> None:
    """The prefix of the default ids leaves room for the model and n."""
    if len(id_prefix) > MAX_ID_PREFIX_LENGTH:
        raise IdPrefixError(f"id prefix {quote(id_prefix)} has {len(id_prefix)} characters, more than "
                            f"{MAX_ID_PREFIX_LENGTH}: ids are <prefix>-<model>-<n:05d> and {_ID_RULE}")


def check_id_pattern(pattern: str) -> None:
    """A pattern whose fields are ``n``, ``model`` and ``prefix`` and whose widths fit in
    an id: what it can make is bounded before anything is formatted."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as error:
        raise ValueError(f"{quote(pattern)} is not {_PATTERN_EXAMPLE} ({error})") from None
    for _, field, spec, _ in parts:
        if field is None:
            continue
        if field.partition("[")[0] not in _PATTERN_FIELDS or "." in field or "{" in (spec or ""):
            raise ValueError(f"{quote(pattern)} is not {_PATTERN_EXAMPLE} ({{{clip(field, 20)}}} is none of them)")
        # Compared by length first: int() of a 5,000-digit width is itself refused.
        wide = next((number for number in _SPEC_NUMBER.findall(spec or "")
                     if len(number.lstrip("0")) > 2 or int(number) > MAX_ID_LENGTH), None)
        if wide is not None:
            raise ValueError(f"{quote(pattern)}: a width of {clip(wide, 20)} makes ids longer than "
                             f"{MAX_ID_LENGTH} characters; {_ID_RULE}")


class IdPrefixError(ValueError):
    """The id prefix, rather than a pattern, cannot make usable ids."""


class FleetIdError(ValueError):
    """A charge point id of the fleet's share (a scenario's group) ``share``
    cannot be used.  ``clash_with``: the share that makes it too (the same one
    when its pattern repeats an id); ``blame_prefix``: a shorter id prefix is
    the fix."""

    def __init__(self, message: str, share: int, *, clash_with: int | None = None, cp_id: str | None = None,
                 blame_prefix: bool = False) -> None:
        super().__init__(message)
        self.share = share
        self.clash_with = clash_with
        self.cp_id = cp_id
        self.blame_prefix = blame_prefix


def check_fleet_ids(shares: Sequence[tuple[str | None, str, int]], id_prefix: str) -> None:
    """The ids of every share ((pattern, model, stations) each) are usable and
    name one station each; raises FleetIdError naming the first that is not."""
    owner: dict[str, int] = {}
    for index, (pattern, model, stations) in enumerate(shares):
        try:
            ids = group_ids(pattern, id_prefix, model, stations)
        except ValueError as error:
            raise FleetIdError(str(error), index, blame_prefix=isinstance(error, IdPrefixError)) from None
        for cp_id in ids:
            other = owner.get(cp_id)
            if other is not None:
                raise _clash(cp_id, shares, other, index, id_prefix)
            owner[cp_id] = index


def _clash(cp_id: str, shares: Sequence[tuple[str | None, str, int]], first: int, second: int,
           id_prefix: str) -> FleetIdError:
    (pattern_a, model_a, stations_a), (pattern_b, model_b, stations_b) = shares[first], shares[second]
    if first == second:
        return FleetIdError(f"charge point id {quote(cp_id)}: the pattern gives several stations that id: use {{n}}",
                            second, clash_with=first, cp_id=cp_id)
    if pattern_a is None and pattern_b is None and model_a != model_b:
        # The models were shortened to fit the id, and what is left of them
        # is the same: a prefix short enough keeps them apart.
        common = len(os.path.commonprefix([model_a, model_b]))
        longest_prefix = MAX_ID_LENGTH - len(_number_suffix(min(stations_a, stations_b))) - 2 - common
        advice = (f"use a prefix of at most {longest_prefix} characters" if longest_prefix >= 0
                  else "the models' ids are too alike to tell apart; give them id patterns")
        return FleetIdError(f"id prefix {quote(id_prefix)} ({len(id_prefix)} characters) leaves too little of the "
                            f"models to tell {quote(model_a, 40)} from {quote(model_b, 40)}: both make {quote(cp_id)}; "
                            f"ids are <prefix>-<model>-<n:05d> and {_ID_RULE}: {advice}",
                            second, clash_with=first, cp_id=cp_id, blame_prefix=True)
    return FleetIdError(f"charge point id {quote(cp_id)} would name two stations", second, clash_with=first,
                        cp_id=cp_id)


def _check_id(text: str) -> None:
    if not _ID_CHARACTERS.fullmatch(text) or text in (".", ".."):
        raise ValueError(f"charge point id {quote(text)} cannot go in the URL path and the Basic-auth user-id: "
                         f"use {_ID_ADVICE}")
    if len(text) > MAX_ID_LENGTH:
        raise ValueError(f"charge point id {quote(text)} has {len(text)} characters, more than {MAX_ID_LENGTH}: "
                         f"{_ID_RULE}")
