"""Profile files: the built-in profiles shipped in ``builtin/`` and files users
write with ``fleetsim profiles import``.  A profile file is the JSON of a
:class:`StationProfile`, pretty-printed with a stable key order."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import msgspec

from fleetsim.profiles.profile import StationProfile

__all__ = ["ProfileError", "decode_profile", "encode_profile", "get_profile", "load_builtin", "load_profile_file"]


class ProfileError(ValueError):
    """A profile file is unreadable, or a profile id is unknown."""


def encode_profile(profile: StationProfile) -> bytes:
    """Readable, diff-friendly JSON: fields in declaration order, sets and
    dict keys sorted, two-space indent, trailing newline."""
    raw = msgspec.json.encode(profile, order="deterministic")
    return msgspec.json.format(raw, indent=2) + b"\n"


def decode_profile(data: bytes | str, origin: str = "profile") -> StationProfile:
    try:
        return msgspec.json.decode(data, type=StationProfile)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ProfileError(f"{origin}: not a valid station profile: {error}") from error


def load_profile_file(path: str | Path) -> StationProfile:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProfileError(f"{path}: cannot read: {error.strerror or error}") from error
    return decode_profile(data, str(path))


@cache
def load_builtin() -> dict[str, StationProfile]:
    """The built-in profiles by id, in id order."""
    found: dict[str, StationProfile] = {}
    for entry in sorted((resources.files("fleetsim.profiles") / "builtin").iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".json"):
            profile = decode_profile(entry.read_bytes(), f"builtin/{entry.name}")
            found[profile.id] = profile
    return found


def get_profile(profile_id: str) -> StationProfile:
    """A built-in profile by id."""
    profiles = load_builtin()
    try:
        return profiles[profile_id]
    except KeyError:
        known = ", ".join(profiles) or "none"
        raise ProfileError(f"unknown profile {profile_id!r}; built-in profiles: {known}") from None
