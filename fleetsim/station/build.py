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

import re

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
# characters like chargeBoxIdentity in OCPP 1.6 SOAP (CiString48), which
# CSMSs commonly keep for 1.6-J too.
MAX_ID_LENGTH = 48
# OCPP-J 1.6 §3.1.1: the id is the URL's last path segment, and security
# profiles 1-2 send it as the HTTP Basic user-id (RFC 7617: no ":").  So only
# RFC 3986 path characters that need no percent-encoding, less ":".
_ID_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=@]+")
_ID_ADVICE = "letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = @ (no space, / ? # : %)"


def group_ids(pattern: str | None, id_prefix: str, model: str, stations: int) -> list[str]:
    """The charge point ids of a fleet group's stations, n = 1..``stations``:
    ``pattern`` formatted with ``n`` and ``model``, or
    ``<id_prefix>-<model>-<n:05d>`` (the model shortened to fit, so that n
    survives).  Raises ValueError naming the first id that cannot be used."""
    ids = []
    for n in range(1, stations + 1):
        if pattern is None:
            suffix = f"-{n:05d}"
            text = f"{id_prefix}-{model}"[: MAX_ID_LENGTH - len(suffix)] + suffix
        else:
            try:
                text = pattern.format(n=n, model=model)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
                raise ValueError(f"{pattern!r} is not a pattern of n and model, like 'AMS-{{n:04d}}' "
                                 f"({type(error).__name__}: {error})") from None
        _check_id(text)
        ids.append(text)
    return ids


def _check_id(text: str) -> None:
    if not _ID_CHARACTERS.fullmatch(text) or text in (".", ".."):
        raise ValueError(f"charge point id {text!r} cannot go in the URL path and the Basic-auth user-id: "
                         f"use {_ID_ADVICE}")
    if len(text) > MAX_ID_LENGTH:
        raise ValueError(f"charge point id {text!r} has {len(text)} characters, more than {MAX_ID_LENGTH}")
