"""Deciding on an idTag (OCPP 1.6 §3.5, §4.1, §9.1): the Local Authorization
List and the Authorization Cache where the model has them, the CSMS when the
station is online and registered, the offline rules otherwise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import AuthorizationStatus, RegistrationStatus
from fleetsim.ocpp.payloads.core import AuthorizeConf, AuthorizeReq
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import AuthPort

Verdict = Callable[[float, bool], None]  # (now_s, accepted)


def cache_enabled(station: AuthPort) -> bool:
    return station.config.has("AuthorizationCacheEnabled") and station.config.get_bool("AuthorizationCacheEnabled", False)


def remember(station: AuthPort, id_tag: str, info: IdTagInfo) -> None:
    """§3.5.1: the cache keeps the latest IdTagInfo the CSMS gave for a tag
    (from Authorize, StartTransaction and StopTransaction confirmations)."""
    if cache_enabled(station):
        station.auth_cache[id_tag.upper()] = info


def known(station: AuthPort, id_tag: str) -> IdTagInfo | None:
    """The local list first (it takes precedence, §3.5.3), then the cache.
    IdTokens are case-insensitive (§7.28)."""
    key = id_tag.upper()
    if station.config.get_bool("LocalAuthListEnabled", True):
        listed = station.local_list.get(key) or station.local_list.get(id_tag)
        if listed is not None:
            return listed
    return station.auth_cache.get(key) if cache_enabled(station) else None


def usable(info: IdTagInfo, wall: datetime) -> bool:
    """Accepted and not expired (§3.5: an expired entry is treated as such)."""
    return info.status == AuthorizationStatus.ACCEPTED and (info.expiry_date is None or info.expiry_date > wall)


def authorize(station: AuthPort, id_tag: str, now_s: float, done: Verdict) -> None:
    info = known(station, id_tag)
    valid = info is not None and usable(info, station.wall(now_s))
    if station.online and station.registration == RegistrationStatus.ACCEPTED:
        if valid and station.config.get_bool("LocalPreAuthorize", False):
            done(now_s, True)  # §9.1.15: start at once from the list or cache
            return

        def on_answer(conf: AuthorizeConf, now: float) -> None:
            station.stats.count(f"authorize.{conf.id_tag_info.status}")
            remember(station, id_tag, conf.id_tag_info)
            done(now, conf.id_tag_info.status == AuthorizationStatus.ACCEPTED)

        station.enqueue(Outgoing("Authorize", AuthorizeReq(id_tag=id_tag), now_s, on_answer=on_answer,
                                 on_failure=lambda now: done(now, False)))
        return
    if info is not None:
        ok = valid and station.config.get_bool("LocalAuthorizeOffline", False)  # §9.1.14
    else:
        ok = station.config.get_bool("AllowOfflineTxForUnknownId", False)  # §9.1.1
    station.stats.count("authorize.offline_accepted" if ok else "authorize.offline_refused")
    done(now_s, ok)
