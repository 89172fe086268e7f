"""``fleetsim profiles list | show | import`` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from profile_seeds import CERTIFICATES, SEEDS

from fleetsim.cli.profiles import profiles
from fleetsim.profiles import decode_profile, get_profile, load_profile_file


@click.group()
def root() -> None:
    """A root group like fleetsim.cli.main, so these tests need only this module."""


root.add_command(profiles)


def run(*args: str) -> Result:
    return CliRunner().invoke(root, ["profiles", *args], catch_exceptions=False)


def test_the_real_root_group_has_profiles() -> None:
    from fleetsim.cli import main

    assert main.get_command(click.Context(main), "profiles") is profiles


def test_list_shows_every_builtin_profile() -> None:
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "VENDOR", "MODEL"]
    bescore = next(line for line in lines if line.startswith("bescore-bsc-s12bcc"))
    for cell in ("BSC-S12BCC", "2×cCCS2", "DC 120 kW", "Core,FW,LA,R,SC,RT,Sec", "25 s"):
        assert cell in bescore
    taeseong = next(line for line in lines if line.startswith("taeseongcontech-tsct-2007cp"))
    for cell in ("1×cType1", "AC 1-phase", "Core,FW,RT", "60 s"):
        assert cell in taeseong
    assert sum(line.startswith(("bescore", "bionever", "wenzhou", "taeseong", "evsis")) for line in lines) == 5


def test_show_prints_the_profile_and_its_configuration() -> None:
    result = run("show", "taeseongcontech-tsct-2007cp")
    assert result.exit_code == 0
    out = result.stdout
    assert "OCA.0016.0901.CS" in out
    assert "Configuration keys" in out
    assert "SupportedFeatureProfiles" in out and "Core,FirmwareManagement,RemoteTrigger" in out
    assert "LocalAuthListEnabled" not in out  # LA not tested
    assert "3.06 / 3.5 / 3.94 s" in out  # RemoteStop measured min / avg / max


def test_show_never_prints_the_authorization_key() -> None:
    for profile_id in ("bescore-bsc-s12bcc", "evsis-jc-9932-100-cu07"):
        for args in (("show", profile_id), ("show", profile_id, "--json")):
            assert "AuthorizationKey" not in run(*args).output


def test_show_json_is_a_loadable_profile() -> None:
    result = run("show", "bescore-bsc-s12bcc", "--json")
    assert result.exit_code == 0
    assert decode_profile(result.stdout) == get_profile("bescore-bsc-s12bcc")


def test_show_a_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    run("import", str(CERTIFICATES / SEEDS["002"]), "-o", str(path))
    result = run("show", str(path))
    assert result.exit_code == 0 and "BSEC-22K(A)2(CCS2)400S" in result.stdout


def test_show_unknown_profile_is_a_usage_error() -> None:
    result = run("show", "no-such-station")
    assert result.exit_code == 2
    assert "unknown profile" in result.stderr and "bescore-bsc-s12bcc" in result.stderr


def test_import_writes_a_profile_and_prints_the_warnings(tmp_path: Path) -> None:
    out = tmp_path / "bionever.json"
    result = run("import", str(CERTIFICATES / SEEDS["001"]), "-o", str(out))
    assert result.exit_code == 0
    assert load_profile_file(out) == get_profile("bionever-bss011k-v1000")
    assert "ConnectorPhaseBotation" in result.stderr  # the OCR slip it corrected
    assert "performance.remote_stop.declared_max_s" in result.stderr
    assert f"wrote {out}" in result.stdout


def test_import_defaults_the_file_name_to_the_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("import", str(CERTIFICATES / SEEDS["000"]))
    assert result.exit_code == 0
    assert (tmp_path / "bescore-bsc-s12bcc.json").is_file()


def test_import_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    out.write_text("keep me")
    result = run("import", str(CERTIFICATES / SEEDS["003"]), "-o", str(out))
    assert result.exit_code == 2
    assert "--force" in result.stderr
    assert out.read_text() == "keep me"
    forced = run("import", str(CERTIFICATES / SEEDS["003"]), "-o", str(out), "--force")
    assert forced.exit_code == 0
    assert load_profile_file(out).id == "taeseongcontech-tsct-2007cp"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text\nwith nothing in it\n", "not a readable OCA certificate"),
        (b"\xff\xfe\x00garbage\x00\x01", "not a readable OCA certificate"),
        (b"%PDF-1.7\n%binary", "is a PDF"),
    ],
)
def test_import_unreadable_input_exits_2(tmp_path: Path, content: bytes, message: str) -> None:
    source = tmp_path / "cert.txt"
    source.write_bytes(content)
    out = tmp_path / "out.json"
    result = run("import", str(source), "-o", str(out))
    assert result.exit_code == 2
    assert message in result.stderr
    assert not out.exists()


def test_import_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("import", str(tmp_path / "absent.txt"), "-o", str(tmp_path / "o.json"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
