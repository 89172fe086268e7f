"""The id tags drivers present: names, the share of each kind, and the verdicts
a CSMS should give them (fleetsim.sessions.config.IdTags)."""

from __future__ import annotations

import random
from typing import Final

import msgspec

from fleetsim.ocpp.enums import AuthorizationStatus
from fleetsim.sessions.config import IdTags

ID_TOKEN_MAX: Final = 20  # IdToken is a CiString20Type (OCPP 1.6 §7.28)
VALID: Final = "V"
UNKNOWN: Final = "U"  # the letter of tags no CSMS knows


class TagKind(msgspec.Struct, frozen=True):
    """One kind of listed tag: its letter in the name, the IdTags field of its
    count, its share of sessions and the verdict a CSMS should give it."""

    letter: str
    name: str
    count: int
    share: float  # valid: what the other kinds and the unknown share leave
    verdict: AuthorizationStatus


def tag_kinds(tags: IdTags) -> tuple[TagKind, ...]:
    """Every kind of listed tag, valid first, then the refused ones."""
    refused = _refused(tags)
    rest = 1.0 - sum(kind.share for kind in refused) - tags.unknown_share
    return (TagKind(VALID, "valid", tags.valid, max(0.0, rest), AuthorizationStatus.ACCEPTED), *refused)


def _refused(tags: IdTags) -> tuple[TagKind, ...]:
    return (
        TagKind("B", "blocked", tags.blocked, tags.blocked_share, AuthorizationStatus.BLOCKED),
        TagKind("E", "expired", tags.expired, tags.expired_share, AuthorizationStatus.EXPIRED),
        TagKind("I", "invalid", tags.invalid, tags.invalid_share, AuthorizationStatus.INVALID),
    )


def tag_name(tags: IdTags, kind: str, n: int) -> str:
    """``<prefix>-<kind>-<n>``, n from 1, five digits."""
    return f"{tags.prefix}-{kind}-{n:05d}"


def check_id_tags(tags: IdTags) -> list[str]:
    """What is wrong with an ``[id_tags]`` table, one sentence each (empty: fine)."""
    problems = []
    longest = max(tags.valid, tags.blocked, tags.expired, tags.invalid, 1)
    if len(tag_name(tags, VALID, longest)) > ID_TOKEN_MAX:
        problems.append(f"id_tags.prefix {tags.prefix!r} is too long: tags must fit in {ID_TOKEN_MAX} characters")
    counts = {"valid": tags.valid, "blocked": tags.blocked, "expired": tags.expired, "invalid": tags.invalid}
    for name, count in counts.items():
        if count < 0:
            problems.append(f"id_tags.{name} cannot be negative")
    shares = {"blocked_share": tags.blocked_share, "expired_share": tags.expired_share,
              "invalid_share": tags.invalid_share, "unknown_share": tags.unknown_share,
              "remote_start_share": tags.remote_start_share}
    for name, share in shares.items():
        if not 0.0 <= share <= 1.0:
            problems.append(f"id_tags.{name} must be between 0 and 1, not {share}")
    if sum(shares.values()) - tags.remote_start_share > 1.0:
        problems.append("id_tags: blocked, expired, invalid and unknown shares add up to more than 1")
    for kind in _refused(tags):
        if kind.share > 0 and kind.count <= 0:
            problems.append(f"id_tags.{kind.name}_share is above 0 but id_tags.{kind.name} is 0: "
                            "there is no such tag to present")
    if tags.valid <= 0 and sum(shares.values()) - tags.remote_start_share < 1.0:
        problems.append("id_tags.valid is 0 but some sessions need a valid tag")
    return problems


def id_tag_verdicts(tags: IdTags) -> dict[str, AuthorizationStatus]:
    """Every tag the sessions present with the verdict the CSMS should give it;
    tags not listed (the ``unknown`` ones) should be Invalid."""
    verdicts: dict[str, AuthorizationStatus] = {}
    for kind in tag_kinds(tags):
        verdicts.update({tag_name(tags, kind.letter, n): kind.verdict for n in range(1, kind.count + 1)})
    return verdicts


def draw_tag(tags: IdTags, rng: random.Random) -> str:
    """The tag of one session: blocked, expired, invalid or unknown by their
    shares, valid otherwise."""
    u = rng.random()
    for kind in _refused(tags):
        if u < kind.share:
            return tag_name(tags, kind.letter, rng.randint(1, kind.count))
        u -= kind.share
    if u < tags.unknown_share:
        return tag_name(tags, UNKNOWN, rng.randint(1, 99999))
    return tag_name(tags, VALID, rng.randint(1, max(1, tags.valid)))
