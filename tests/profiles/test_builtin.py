"""The built-in profiles: shipped in the package, loadable, and exactly what
the shipped certificates give (so they cannot drift)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import msgspec
import pytest
from profile_seeds import CERTIFICATES, SEEDS, parsed_seed

from fleetsim.profiles import (
    ProfileError,
    StationProfile,
    decode_profile,
    encode_profile,
    get_profile,
    load_builtin,
    load_profile_file,
)
from fleetsim.profiles.build import BUILTIN_DIR, main, render_all, stale_files

IDS = {
    "bescore-bsc-s12bcc",
    "bionever-bss011k-v1000",
    "wenzhou-bsec-22k-a-2-ccs2-400s",
    "taeseongcontech-tsct-2007cp",
    "evsis-jc-9932-100-cu07",
}


def test_committed_profiles_are_exactly_what_the_certificates_give() -> None:
    rendered = render_all()
    on_disk = {path.name: path.read_bytes() for path in BUILTIN_DIR.glob("*.json")}
    assert rendered.keys() == on_disk.keys()
    for name, content in rendered.items():
        assert content == on_disk[name], f"{name} is stale: run python -m fleetsim.profiles.build"
    assert stale_files() == []
    assert main(["--check"]) == 0


def test_encoding_does_not_depend_on_hash_seed() -> None:
    """Sets are written sorted: the files are the same whatever PYTHONHASHSEED."""
    script = (
        "import sys; from fleetsim.profiles.build import render_all; "
        "sys.stdout.buffer.write(b''.join(render_all().values()))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, check=True
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_builtin_profiles_load_by_id() -> None:
    profiles = load_builtin()
    assert set(profiles) == IDS
    for profile_id, profile in profiles.items():
        assert profile.id == profile_id
        assert get_profile(profile_id) is profile
    assert {parsed_seed(seed).profile.id for seed in SEEDS} == IDS


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="bescore-bsc-s12bcc"):
        get_profile("no-such-station")


def test_files_ship_inside_the_package() -> None:
    package = resources.files("fleetsim.profiles")
    for name in SEEDS.values():
        assert (package / "certificates" / name).is_file()
    assert (package / "certificates" / "README.md").is_file()
    assert len([entry for entry in (package / "builtin").iterdir() if entry.name.endswith(".json")]) == len(IDS)


def test_certificates_readme_gives_their_origin() -> None:
    readme = (CERTIFICATES / "README.md").read_text(encoding="utf-8")
    assert "Open Charge Alliance" in readme
    for name in SEEDS.values():
        assert name in readme


def test_profile_file_round_trip(tmp_path: Path) -> None:
    profile = get_profile("evsis-jc-9932-100-cu07")
    path = tmp_path / "p.json"
    path.write_bytes(encode_profile(profile))
    assert load_profile_file(path) == profile
    assert encode_profile(load_profile_file(path)) == encode_profile(profile)


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"id": "x"}'],
)
def test_bad_profile_files_raise_profile_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=r"bad\.json"):
        load_profile_file(path)


def test_unknown_fields_are_rejected() -> None:
    data = msgspec.json.decode(encode_profile(get_profile("bescore-bsc-s12bcc")))
    data["hardware"]["colour"] = "red"
    with pytest.raises(ProfileError, match="colour"):
        decode_profile(msgspec.json.encode(data))


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile_file(tmp_path / "absent.json")


def test_build_main_rejects_unknown_arguments() -> None:
    assert main(["--bogus"]) == 2


def test_profile_structs_are_frozen() -> None:
    profile: StationProfile = get_profile("bescore-bsc-s12bcc")
    with pytest.raises(AttributeError):
        profile.vendor = "someone else"  # type: ignore[misc]
