"""Local Auth List Management (OCPP 1.6 §3.5; §5.9 GetLocalListVersion, §5.15
SendLocalList; keys §9.3).

The list lives in ``station.local_list`` (idTag -> IdTagInfo) with its
version in ``station.local_list_version``; the station's authorization reads
it.  An update is applied whole or not at all.

Readings where the spec is silent, and why:

* LocalAuthListEnabled false: the list is switched off, so the station does
  not take updates (SendLocalList NotSupported, "update ... not supported",
  §7.47) and reports no list version (-1, §5.9), as open-ocpp and the OCTT's
  TC_043_1 expect of a station without a usable list.
* More entries than SendLocalListMaxLength in one request, or a list that
  would grow past LocalAuthListMaxLength: Failed (§7.47 "Failed to update"),
  since the request itself is well-formed (no CALLERROR).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fleetsim.ocpp.datatypes import IdTagInfo
from fleetsim.ocpp.enums import UpdateStatus, UpdateType
from fleetsim.ocpp.payloads.local_auth import (
    GetLocalListVersionConf,
    GetLocalListVersionReq,
    SendLocalListConf,
    SendLocalListReq,
)

if TYPE_CHECKING:
    from fleetsim.station.ports import LocalAuthPort
    from fleetsim.station.replies import Reply

NO_LIST_VERSION = -1  # §5.9: the Charge Point has no (usable) local list


def _enabled(station: LocalAuthPort) -> bool:
    return station.config.get_bool("LocalAuthListEnabled", True)


def get_local_list_version(station: LocalAuthPort, request: GetLocalListVersionReq, now_s: float) -> Reply:
    """§5.9: the version of the list; 0 when none was ever sent."""
    return GetLocalListVersionConf(list_version=station.local_list_version if _enabled(station) else NO_LIST_VERSION)


def send_local_list(station: LocalAuthPort, request: SendLocalListReq, now_s: float) -> Reply:
    """§5.15: a Full update replaces the list, a Differential one edits it and
    must raise its version (VersionMismatch otherwise, §7.47)."""
    if not _enabled(station):
        return SendLocalListConf(status=UpdateStatus.NOT_SUPPORTED)
    entries = request.local_authorization_list or []
    config = station.config
    if len(entries) > config.get_int("SendLocalListMaxLength", len(entries)):
        return _failed(station, "send_max_length")
    if len({entry.id_tag for entry in entries}) != len(entries):
        return _failed(station, "duplicate_id_tag")  # §5.15: idTags MUST be unique
    if request.list_version <= 0:
        return _failed(station, "list_version")  # §6.41: -1 and 0 have a meaning of their own (§5.9)
    if request.update_type == UpdateType.FULL:
        if any(entry.id_tag_info is None for entry in entries):
            return _failed(station, "full_without_info")  # §7.1: idTagInfo is required in a Full update
        updated = {entry.id_tag: entry.id_tag_info for entry in entries if entry.id_tag_info is not None}
    else:
        if request.list_version <= station.local_list_version:
            return SendLocalListConf(status=UpdateStatus.VERSION_MISMATCH)
        updated = _differential(station.local_list, entries)
    if len(updated) > config.get_int("LocalAuthListMaxLength", len(updated)):
        return _failed(station, "list_max_length")
    station.local_list = updated
    station.local_list_version = request.list_version
    return SendLocalListConf(status=UpdateStatus.ACCEPTED)


def _differential(current: dict[str, IdTagInfo], entries: list[Any]) -> dict[str, IdTagInfo]:
    """§7.1: an entry with idTagInfo adds or updates the idTag, one without
    deletes it."""
    updated = dict(current)
    for entry in entries:
        if entry.id_tag_info is None:
            updated.pop(entry.id_tag, None)
        else:
            updated[entry.id_tag] = entry.id_tag_info
    return updated


def _failed(station: LocalAuthPort, reason: str) -> Reply:
    station.stats.count(f"local_list.failed.{reason}")
    return SendLocalListConf(status=UpdateStatus.FAILED)


HANDLERS: dict[type, Callable[..., Any]] = {
    GetLocalListVersionReq: get_local_list_version,
    SendLocalListReq: send_local_list,
}
