"""``fleetsim profiles``: list, show and import station profiles.

The root group adds this one with ``main.add_command(profiles)``.  Exit codes:
0 success, 2 unusable input (unreadable certificate, unknown profile, a file
that would be overwritten without ``--force``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import msgspec

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles import rows as R
from fleetsim.inputs import read_input_file
from fleetsim.profiles.builtin import encode_profile, get_profile, load_builtin
from fleetsim.profiles.certificate import MAX_TEXT_CHARS, CertificateError, parse_certificate
from fleetsim.profiles.configuration import ConfigurationKey, build_configuration
from fleetsim.profiles.keys import ValueKind
from fleetsim.profiles.profile import CurrentType, StationProfile, Timing

__all__ = ["profiles"]

USAGE_ERROR = 2

_SHORT = {
    FeatureProfile.CORE: "Core",
    FeatureProfile.FIRMWARE_MANAGEMENT: "FW",
    FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT: "LA",
    FeatureProfile.RESERVATION: "R",
    FeatureProfile.SMART_CHARGING: "SC",
    FeatureProfile.REMOTE_TRIGGER: "RT",
    FeatureProfile.SECURITY: "Sec",
}


class InputProblem(click.ClickException):
    """Unusable input: printed as "Error: ..." with exit code 2."""

    exit_code = USAGE_ERROR


@click.group("profiles")
def profiles() -> None:
    """Station profiles of OCA-certified charging stations."""


# ---------------------------------------------------------------- list


def _connectors(profile: StationProfile) -> str:
    kinds = Counter(
        (c.connector_type.value if c.connector_type else None) or (c.current_type.value if c.current_type else "?")
        for c in profile.hardware.connectors
    )
    return ", ".join(f"{count}×{kind}" for kind, count in kinds.items()) or "?"


def _power(profile: StationProfile) -> str:
    hardware = profile.hardware
    parts = []
    currents = {c.current_type for c in hardware.connectors}
    if hardware.ac_support or CurrentType.AC in currents:
        phases = max((c.phases or 0 for c in hardware.connectors if c.current_type is CurrentType.AC), default=0)
        parts.append(f"AC {phases}-phase" if phases else "AC")
    if hardware.dc_support or CurrentType.DC in currents:
        parts.append(f"DC {hardware.dc_power_kw:g} kW" if hardware.dc_power_kw else "DC")
    return " + ".join(parts) or "?"


def _profile_list(profile: StationProfile) -> str:
    supported = profile.supported_profiles | (profile.profiles_passed & {FeatureProfile.SECURITY})
    return ",".join(short for feature, short in _SHORT.items() if feature in supported)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:g} s"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


@profiles.command("list")
def list_profiles() -> None:
    """List the built-in profiles."""
    rows = [
        (
            profile.id,
            _clip(profile.vendor or "?", 28),
            profile.model or "?",
            _connectors(profile),
            _power(profile),
            _profile_list(profile),
            _seconds(profile.performance.response.declared_max_s),
        )
        for profile in load_builtin().values()
    ]
    header = ("ID", "VENDOR", "MODEL", "CONNECTORS", "POWER", "PROFILES", "RESPONSE TIMEOUT")
    for line in _table(header, rows):
        click.echo(line)
    click.echo("\nprofiles: " + ", ".join(f"{short}={feature.value}" for feature, short in _SHORT.items()))


# ---------------------------------------------------------------- show


def _yes_no(value: object) -> str:
    if value is None:
        return "not stated"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple) and value and isinstance(value[0], msgspec.Struct):
        return str(len(value))  # HFS-8: the connectors themselves are listed above
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _rows_section(title: str, table: tuple[R.Row, ...], values: object) -> list[str]:
    codes: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for row in table:  # two rows may fill one field (C-11 and SEC-1)
        codes.setdefault(row.field, []).append(row.row_id)
        labels.setdefault(row.field, row.label)
    lines = [title]
    for field, ids in codes.items():
        code = "/".join(ids)
        lines.append(f"  {code:<10} {labels[field][:64]:<64}  {_yes_no(getattr(values, field))}")
    return lines


def _timing_line(name: str, timing: Timing) -> str:
    measured = timing.measured
    lab = f"{measured.min_s:g} / {measured.avg_s:g} / {measured.max_s:g} s" if measured else "not stated"
    return f"  {name:<60} {_seconds(timing.declared_max_s):>8}   {lab}"


def _describe(profile: StationProfile) -> list[str]:
    cert = profile.certification
    lines = [
        f"{profile.id}: {profile.vendor or '?'} {profile.model or '?'}, firmware {profile.firmware_version or '?'}",
        f"certificate {cert.number or '?'} of {cert.date or '?'}, {cert.test_lab or '?'}"
        f" (report {cert.report_reference or '?'}, {cert.format.value} format)",
        "",
        "Hardware",
        *(
            f"  connector {c.connector_id}: {_yes_no(c.current_type)}"
            f"{f' {c.phases}-phase' if c.phases else ''}, type {_yes_no(c.connector_type)},"
            f" cable {_yes_no(c.cable).lower()}"
            for c in profile.hardware.connectors
        ),
        *_rows_section("", R.HARDWARE_ROWS, profile.hardware)[1:],
        "",
        "Feature profiles",
        f"  passed       {', '.join(sorted(p.value for p in profile.profiles_passed)) or 'none'}",
        f"  not tested   {', '.join(sorted(p.value for p in profile.profiles_not_tested)) or 'none'}",
        f"  exposed      {_profile_list(profile)}",
        "",
        *_rows_section("Optional features", R.FEATURE_ROWS, profile.features),
        "",
        *_rows_section("Security", R.SECURITY_ROWS, profile.security),
        "",
        "Measurands (C-09)",
        *(
            f"  {field:<18} {', '.join(getattr(profile.measurands, field)) or 'none'}"
            for field in ("sampled_tested", "sampled_declared", "aligned_tested", "aligned_declared")
        ),
        "",
        *_rows_section("Limits (ORS)", R.LIMIT_ROWS, profile.limits),
        "",
        *_rows_section("Additional answers (AQ)", R.ANSWER_ROWS, profile.answers),
        "",
        f"Performance{'':<53} {'declared':>8}   measured min / avg / max",
        *(
            _timing_line(R.PERFORMANCE_NAMES[name][0], getattr(profile.performance, name))
            for name in R.PERFORMANCE_NAMES
        ),
        f"  measured over {_yes_no(profile.performance.measured_over)}",
    ]
    return lines


def _accepts(key: ConfigurationKey) -> str:
    if key.readonly:
        return ""
    if key.kind is ValueKind.INTEGER:
        if key.choices:
            return "one of " + ",".join(key.choices) + (" (only upwards)" if key.only_increase else "")
        low = "…" if key.min_value is None else key.min_value
        high = "…" if key.max_value is None else key.max_value
        return f"{low}..{high}"
    if key.kind is ValueKind.CSL and key.key == "ConnectorPhaseRotation":
        return f"<= {key.max_items} × <connector>.<RST|RTS|SRT|STR|TRS|TSR|NotApplicable|Unknown>"
    if key.kind is ValueKind.CSL:
        return f"<= {key.max_items} of the C-09 measurands" if key.max_items is not None else "list"
    return "/".join(key.choices) if key.choices else key.kind.value


def _configuration_lines(profile: StationProfile) -> list[str]:
    # Write-only keys (AuthorizationKey) are never shown: readable() leaves them out.
    keys = build_configuration(profile).readable()
    rows = [(k.key, k.value or "", "R" if k.readonly else "RW", _accepts(k), k.source) for k in keys]
    return [
        "Configuration keys (GetConfiguration)",
        *("  " + line for line in _table(("KEY", "VALUE", "ACCESS", "ACCEPTS", "SOURCE"), rows)),
    ]


def _resolve(reference: str) -> StationProfile:
    """A built-in id, or the path of a profile file."""
    from fleetsim.scenario.load import read_profile

    try:
        if reference in load_builtin() or not Path(reference).exists():
            return get_profile(reference)
        return read_profile(reference)
    except ValueError as error:  # ProfileError too
        raise InputProblem(str(error)) from None


@profiles.command("show")
@click.argument("profile_ref", metavar="ID|FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON (a loadable profile file).")
def show(profile_ref: str, as_json: bool) -> None:
    """Show a profile in full, with its OCPP configuration keys."""
    profile = _resolve(profile_ref)
    if as_json:
        click.echo(encode_profile(profile).decode(), nl=False)
        return
    for line in [*_describe(profile), "", *_configuration_lines(profile)]:
        click.echo(line)


# ---------------------------------------------------------------- import


def _read_certificate(path: Path) -> str:
    try:
        # Read no further than the parser takes (4 bytes a character at most):
        # a FIFO or /dev/zero is refused, a huge file read only that far.
        data = read_input_file(path, limit=4 * MAX_TEXT_CHARS)
    except OSError as error:
        raise InputProblem(f"{path}: cannot read: {error.strerror or error}") from error
    except ValueError:
        raise InputProblem(f"{path}: too large for the text of a certificate") from None
    if data.startswith(b"%PDF"):
        raise InputProblem(f"{path} is a PDF; extract its text first (e.g. pdftotext -layout {path})")
    return data.decode("utf-8-sig", errors="replace")


@profiles.command("import")
@click.argument("certificate", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Profile file to write [<id>.json]."
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
def import_certificate(certificate: Path, output: Path | None, force: bool) -> None:
    """Read an OCA certificate (its text) into a profile file."""
    try:
        parsed = parse_certificate(_read_certificate(certificate))
    except CertificateError as error:
        raise InputProblem(f"{certificate}: not a readable OCA certificate: {error}") from error
    profile = parsed.profile
    output = output or Path(f"{profile.id}.json")
    if output.exists() and not force:
        raise InputProblem(f"{output} exists; use --force to overwrite it")
    try:
        output.write_bytes(encode_profile(profile))
    except OSError as error:
        raise InputProblem(f"{output}: cannot write: {error.strerror or error}") from error
    for warning in parsed.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"wrote {output}: profile {profile.id} ({profile.vendor or '?'} {profile.model or '?'}), "
        f"{len(parsed.warnings)} warning(s) about what could not be read"
    )
