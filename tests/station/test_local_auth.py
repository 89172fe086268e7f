"""Local Auth List Management (OCPP 1.6 §3.5, §5.9 GetLocalListVersion, §5.15
SendLocalList, keys §9.3)."""

from __future__ import annotations

import pytest
from feature_steps import (
    AC_1PHASE,
    AC_3PHASE,
    CORE_ONLY,
    DC_ALL,
    badge,
    booted,
    configure,
    csms_call,
    plug_in,
    refused_with,
    status_of,
)
from harness import Bench

from fleetsim.ocpp.datatypes import AuthorizationData, IdTagInfo
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.payloads.local_auth import GetLocalListVersionReq, SendLocalListReq

ACCEPTED = IdTagInfo(status="Accepted")
BLOCKED = IdTagInfo(status="Blocked")


def entry(id_tag: str, info: IdTagInfo | None = ACCEPTED) -> AuthorizationData:
    return AuthorizationData(id_tag=id_tag, id_tag_info=info)


def send(bench: Bench, version: int, update_type: str, *entries: AuthorizationData) -> str:
    request = SendLocalListReq(list_version=version, update_type=update_type,
                               local_authorization_list=list(entries) if entries else None)
    return status_of(csms_call(bench, request))


def version(bench: Bench) -> int:
    answer = csms_call(bench, GetLocalListVersionReq())
    return answer.list_version  # type: ignore[union-attr]


def listed(bench: Bench) -> dict[str, str]:
    return {tag: str(info.status) for tag, info in bench.station.local_list.items()}


def test_a_full_list_replaces_the_list_and_sets_its_version() -> None:
    bench = booted(AC_3PHASE)
    assert version(bench) == 0  # §5.9: nothing was ever sent
    assert send(bench, 3, "Full", entry("A"), entry("B", BLOCKED)) == "Accepted"
    assert version(bench) == 3
    assert listed(bench) == {"A": "Accepted", "B": "Blocked"}
    assert send(bench, 4, "Full", entry("C")) == "Accepted"
    assert listed(bench) == {"C": "Accepted"}
    assert send(bench, 5, "Full") == "Accepted"  # §5.15: an empty Full update empties the list
    assert listed(bench) == {} and version(bench) == 5


def test_a_differential_update_adds_updates_and_deletes() -> None:
    bench = booted(AC_3PHASE)
    send(bench, 1, "Full", entry("A"), entry("B"))
    # §7.1: an entry with idTagInfo is added or updated, one without is deleted.
    assert send(bench, 2, "Differential", entry("B", BLOCKED), entry("A", None), entry("C")) == "Accepted"
    assert listed(bench) == {"B": "Blocked", "C": "Accepted"}
    assert version(bench) == 2


@pytest.mark.parametrize("stale_version", [2, 1])
def test_a_differential_update_must_raise_the_version(stale_version: int) -> None:
    bench = booted(AC_3PHASE)
    send(bench, 2, "Full", entry("A"))
    assert send(bench, stale_version, "Differential", entry("B")) == "VersionMismatch"  # §7.47
    assert listed(bench) == {"A": "Accepted"} and version(bench) == 2
    assert send(bench, 1, "Full", entry("B")) == "Accepted", "a Full update may set any version"


@pytest.mark.parametrize(
    ("entries", "list_version", "why"),
    [
        ([entry("A"), entry("A")], 1, "§5.15: idTags must be unique"),
        ([entry("A"), entry("B", None)], 1, "§7.1: a Full update needs idTagInfo"),
        ([entry("A")], 0, "§6.41: 0 means an empty list"),
        ([entry("A")], -1, "§6.41: -1 means no list support"),
    ],
)
def test_a_malformed_update_fails_and_leaves_the_list(entries: list[AuthorizationData], list_version: int,
                                                      why: str) -> None:
    bench = booted(AC_3PHASE)
    send(bench, 7, "Full", entry("KEEP"))
    assert send(bench, list_version, "Full", *entries) == "Failed", why
    assert listed(bench) == {"KEEP": "Accepted"} and version(bench) == 7


def test_more_entries_than_send_local_list_max_length_fail() -> None:
    bench = booted(AC_3PHASE)  # ORS-13 SendLocalListMaxLength 100
    assert send(bench, 1, "Full", *[entry(f"T{n}") for n in range(100)]) == "Accepted"
    assert send(bench, 2, "Full", *[entry(f"U{n}") for n in range(101)]) == "Failed"
    assert len(bench.station.local_list) == 100 and version(bench) == 1


def test_a_list_that_would_outgrow_local_auth_list_max_length_fails() -> None:
    bench = booted(AC_3PHASE)
    bench.station.config.set("LocalAuthListMaxLength", "3")  # ORS-12, read-only: as if certified so
    assert send(bench, 1, "Full", entry("A"), entry("B")) == "Accepted"
    assert send(bench, 2, "Differential", entry("C")) == "Accepted"
    assert send(bench, 3, "Differential", entry("D")) == "Failed"
    assert send(bench, 3, "Differential", entry("D"), entry("A", None)) == "Accepted", "one out, one in"
    assert set(listed(bench)) == {"B", "C", "D"}


def test_the_list_authorizes_offline() -> None:
    bench = booted(AC_3PHASE)  # LocalAuthorizeOffline true, no AllowOfflineTxForUnknownId
    send(bench, 1, "Full", entry("LISTED"), entry("BARRED", BLOCKED))
    bench.disconnect()
    for connector_id, id_tag in ((1, "LISTED"), (2, "BARRED")):
        plug_in(bench, connector_id)
        badge(bench, connector_id, id_tag)
    bench.run_for(5)
    transaction = bench.station.connectors[0].transaction
    assert transaction is not None and transaction.id_tag == "LISTED"
    assert bench.station.connectors[1].transaction is None


def test_a_disabled_list_takes_no_updates() -> None:
    bench = booted(DC_ALL)
    send(bench, 1, "Full", entry("A"))
    assert configure(bench, "LocalAuthListEnabled", "false") == "Accepted"
    assert send(bench, 2, "Full", entry("B")) == "NotSupported"
    assert version(bench) == -1  # §5.9: no (usable) list
    assert configure(bench, "LocalAuthListEnabled", "true") == "Accepted"
    assert version(bench) == 1 and listed(bench) == {"A": "Accepted"}


@pytest.mark.parametrize("model_id", [CORE_ONLY, AC_1PHASE])
@pytest.mark.parametrize(
    "request_",
    [GetLocalListVersionReq(), SendLocalListReq(list_version=1, update_type="Full")],
    ids=lambda r: type(r).__name__,
)
def test_a_model_without_the_profile_answers_not_supported(model_id: str, request_: object) -> None:
    bench = booted(model_id)
    assert refused_with(bench, request_) == ErrorCode.NOT_SUPPORTED  # type: ignore[arg-type]


def test_a_disabled_list_authorizes_nobody() -> None:
    bench = booted(AC_3PHASE)
    send(bench, 1, "Full", entry("LISTED"))
    assert configure(bench, "LocalAuthListEnabled", "false") == "Accepted"
    bench.disconnect()
    plug_in(bench, 1)
    badge(bench, 1, "LISTED")
    bench.run_for(5)
    assert bench.station.connectors[0].transaction is None
