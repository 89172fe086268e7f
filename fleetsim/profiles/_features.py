"""Building the optional features, security, measurands, limits, additional
answers and performance of a profile from a scanned sheet."""

from __future__ import annotations

import re

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles import rows as R
from fleetsim.profiles._hardware import read_communication
from fleetsim.profiles._notes import Notes
from fleetsim.profiles._scan import IdRow, PerfReading, Sheet
from fleetsim.profiles._text import best_match, parse_bool, parse_int, tokens, unique
from fleetsim.profiles.profile import (
    MEASURANDS,
    AdditionalAnswers,
    ConfigurationLimits,
    FileTransferProtocol,
    Measurands,
    Measured,
    OptionalFeatures,
    Performance,
    Security,
    Timing,
)


def passed(sheet: Sheet) -> frozenset[FeatureProfile]:
    return frozenset(result.profile for result in sheet.profiles if result.passed)


def not_tested(sheet: Sheet) -> frozenset[FeatureProfile]:
    return frozenset(result.profile for result in sheet.profiles if not result.passed) - passed(sheet)


def _bools(sheet: Sheet, table: tuple[R.Row, ...], section: str, notes: Notes) -> dict[str, bool | None]:
    found: dict[str, bool | None] = {}
    for row in table:  # two rows may fill one field (C-11 and SEC-1): the first readable wins
        found.setdefault(row.field, None)
        entry = sheet.rows.get(row.row_id)
        if entry is None or found[row.field] is not None:
            continue
        value = parse_bool(entry.value)
        if value is None:
            notes.add(
                f"{section}.{row.field}", f"row {row.row_id} (line {entry.line}): cannot read {entry.value!r} as yes/no"
            )
        found[row.field] = value
    return found


def _core_description(sheet: Sheet) -> str:
    return " ".join(r.description for r in sheet.profiles if r.profile is FeatureProfile.CORE).lower()


def build_features(sheet: Sheet, notes: Notes) -> OptionalFeatures:
    flags = _bools(sheet, R.FEATURE_ROWS, "features", notes)
    ok, untested = passed(sheet), not_tested(sheet)
    # Profiles certified as a whole imply their feature row (seed 004 has no
    # LA-0 row but passed Local Auth List Management); a profile not tested
    # means the simulator does not offer it.
    for field, profile in (
        ("local_auth_list", FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT),
        ("remote_trigger", FeatureProfile.REMOTE_TRIGGER),
        ("reservations", FeatureProfile.RESERVATION),
    ):
        if flags[field] is None and profile in ok:
            flags[field] = True
        elif flags[field] is None and profile in untested:
            flags[field] = False
    # Newer programmes fold secure firmware update into Core ("...secure firmware updates...").
    if flags["secure_firmware_update"] is None and "secure firmware" in _core_description(sheet):
        flags["secure_firmware_update"] = True
    return OptionalFeatures(**flags)


def build_security(sheet: Sheet, notes: Notes) -> Security:
    flags = _bools(sheet, tuple(r for r in R.SECURITY_ROWS if r.field != "cipher_suites"), "security", notes)
    security_results = [r for r in sheet.profiles if r.profile is FeatureProfile.SECURITY and r.passed]
    # Newer programmes: Core includes "Security Profile 2"; "Advanced Security"
    # is "TLS with client authentication", i.e. Security Profile 3.
    if flags["profile_2_tls_basic_auth"] is None and "security profile 2" in _core_description(sheet):
        flags["profile_2_tls_basic_auth"] = True
    if flags["profile_3_tls_client_cert"] is None and any("client" in r.description.lower() for r in security_results):
        flags["profile_3_tls_client_cert"] = True
    suites: list[str] = []
    for row_id in ("C-12", "SEC-4"):
        row = sheet.rows.get(row_id)
        if row is not None:
            suites += re.findall(r"TLS_[A-Z0-9_]+", " ".join(row.values).upper())
            if not suites:
                notes.add("security.cipher_suites", f"row {row_id} (line {row.line}): no TLS_* cipher suite readable")
    return Security(**flags, cipher_suites=unique(suites))


# ---------------------------------------------------------------- measurands

_MEASURAND_CHOICES = {name: name for name in MEASURANDS}
_PHASE_SUFFIX = re.compile(r"\.(L[123](-N|-L[123])?|N)$", re.IGNORECASE)


def read_measurands(text: str, field: str, notes: Notes) -> tuple[str, ...]:
    """Measurand names from a list cell, OCR slips matched to the spec's names.
    A phase suffix (".L1") is dropped: in OCPP the phase is a separate field."""
    words = tokens(text)
    found: list[str] = []
    index = 0
    while index < len(words):
        word = _PHASE_SUFFIX.sub("", words[index])
        match = best_match(word, _MEASURAND_CHOICES, 0.88)
        if (match is None or match.ambiguous) and index + 1 < len(words):
            joined = best_match(word + words[index + 1], _MEASURAND_CHOICES, 0.9)  # wrapped in the PDF
            if joined is not None and not joined.ambiguous:
                match, index = joined, index + 1
        if match is None or match.ambiguous:
            notes.add(field, f"unknown measurand {words[index]!r} ignored")
        else:
            if match.score < 1.0:
                notes.add(field, f"read {word!r} as {match.value} (OCR slip)")
            found.append(match.value)
        index += 1
    return unique(found)


def build_measurands(sheet: Sheet, notes: Notes) -> Measurands:
    lists: dict[str, tuple[str, ...]] = {}
    for row in R.MEASURAND_ROWS:
        entry = sheet.rows.get(row.row_id)
        values = [value for value in entry.values if value] if entry is not None else []
        tested_text = values[0] if values else ""
        declared_text = values[1] if len(values) > 1 else tested_text
        if entry is not None and len(values) == 1:
            notes.add(
                f"measurands.{row.field}_declared", f"row {row.row_id}: one list only; used it for tested and declared"
            )
        lists[f"{row.field}_tested"] = read_measurands(tested_text, f"measurands.{row.field}_tested", notes)
        lists[f"{row.field}_declared"] = read_measurands(declared_text, f"measurands.{row.field}_declared", notes)
    return Measurands(**lists)


# ---------------------------------------------------------------- limits, answers


def build_limits(sheet: Sheet, notes: Notes) -> ConfigurationLimits:
    found: dict[str, object] = {}
    for row in R.LIMIT_ROWS:
        entry = sheet.rows.get(row.row_id)
        if entry is None or entry.value.strip() in {"", "-"}:
            continue  # absent, or "-": not implemented
        field = f"limits.{row.field}"
        if row.row_id == "ORS-16":
            found[row.field] = _protocols(entry, field, notes)
            continue
        number = parse_int(entry.value)
        if number is None or number < 0:
            notes.add(field, f"row {row.row_id} ({entry.label}, line {entry.line}): {entry.value!r} is not a count")
            continue
        found[row.field] = number
    limits = ConfigurationLimits(**found)  # type: ignore[arg-type]
    for low, high in (
        ("meter_value_sample_interval_min_s", "meter_value_sample_interval_max_s"),
        ("heartbeat_interval_min_s", "heartbeat_interval_max_s"),
    ):
        low_value, high_value = getattr(limits, low), getattr(limits, high)
        if low_value is not None and high_value is not None and low_value > high_value:
            notes.add(f"limits.{low}", f"minimum {low_value} is above maximum {high_value}")
    return limits


def _protocols(entry: IdRow, field: str, notes: Notes) -> tuple[FileTransferProtocol, ...] | None:
    found = []
    for word in tokens(" ".join(entry.values)):
        try:
            found.append(FileTransferProtocol(word.upper()))
        except ValueError:
            notes.add(field, f"row ORS-16 (line {entry.line}): unknown file transfer protocol {word!r}")
    order = list(FileTransferProtocol)
    return tuple(sorted(set(found), key=order.index)) or None


def build_answers(sheet: Sheet, notes: Notes) -> AdditionalAnswers:
    return AdditionalAnswers(**_bools(sheet, R.ANSWER_ROWS, "answers", notes))


# ---------------------------------------------------------------- performance


def _timing(field: str, reading: PerfReading | None, notes: Notes) -> Timing:
    if reading is None:
        return Timing()
    path = f"performance.{field}"
    measured = None
    if len(reading.measured) == 3:
        low, high, average = reading.measured
        if not low <= average <= high:
            notes.add(path, f"line {reading.line}: measured min/max/avg {low}/{high}/{average} out of order; sorted")
            low, average, high = sorted(reading.measured)
        measured = Measured(min_s=low, avg_s=average, max_s=high)
    elif len(reading.measured) == 1:
        (value,) = reading.measured
        notes.add(f"{path}.measured", f"line {reading.line}: one measured value ({value} s), used as min, avg and max")
        measured = Measured(min_s=value, avg_s=value, max_s=value)
    return Timing(declared_max_s=reading.declared_s, measured=measured)


def build_performance(sheet: Sheet, notes: Notes) -> Performance:
    timings = {field: _timing(field, sheet.performance.get(field), notes) for field in R.PERFORMANCE_NAMES}
    over = read_communication(sheet.measured_over or "", "performance.measured_over", notes)
    return Performance(**timings, measured_over=over[0] if over else None)
