"""First pass over a certificate: find what is where.

The scan knows the *layout* of both certificate formats (ID-coded rows,
"Label: value" headers, the profile result table, raw configuration keys, the
performance tables, the connector table) but not what the values mean; that is
the job of :mod:`._hardware` and :mod:`._features`.  Nothing here is specific to one
certificate: rows are found by their ID codes and by fuzzy label matches.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles import rows as R
from fleetsim.profiles._notes import Notes
from fleetsim.profiles._text import Line, best_match, key_form, parse_seconds, row_id, split_lines, squash
from fleetsim.profiles.keys import BY_NAME, NON_STANDARD_KEYS


class IdRow(NamedTuple):
    row_id: str
    label: str
    values: tuple[str, ...]  # the cells after the label, empties kept (column positions)
    line: int

    @property
    def value(self) -> str:
        """The first non-empty value cell ("" for a group header row)."""
        return next((cell for cell in self.values if cell), "")


class ProfileResult(NamedTuple):
    profile: FeatureProfile
    passed: bool  # False: "Not Tested" / "N/A"
    description: str
    line: int


class DeclaredKey(NamedTuple):
    value: str | None  # None: the certificate prints "-" (key not implemented)
    line: int


class PerfReading(NamedTuple):
    declared_s: float | None
    measured: tuple[float, ...]  # (min, max, avg) or (single value,) or ()
    line: int


class Sheet(NamedTuple):
    lines: list[Line]
    lowered: str  # whole text, lowercase, for phrase tests
    rows: dict[str, IdRow]
    labels: dict[str, list[str]]
    profiles: list[ProfileResult]
    declared: dict[str, DeclaredKey]
    performance: dict[str, PerfReading]
    measured_over: str | None
    connectors: list[tuple[tuple[str, ...], int]]  # connector table rows and line numbers


def scan(text: str, notes: Notes) -> Sheet:
    lines = split_lines(text)
    return Sheet(
        lines=lines,
        lowered=" ".join(line.text for line in lines).lower(),
        rows=_scan_rows(lines, notes),
        labels=_scan_labels(lines),
        profiles=_scan_profiles(lines),
        declared=_scan_declared(lines, notes),
        performance=_scan_performance(lines, notes),
        measured_over=_scan_measured_over(lines),
        connectors=_scan_connectors(lines),
    )


# ---------------------------------------------------------------- ID-coded rows

# Row labels usable when a row's ID code is missing or unreadable.  Limits and
# measurands are left out: old formats list those as configuration keys.
_LABEL_TO_ID: dict[str, str] = {
    row.label: row.row_id
    for table in (R.HARDWARE_ROWS, R.FEATURE_ROWS, R.SECURITY_ROWS, R.ANSWER_ROWS)
    for row in table
} | R.HARDWARE_ALIASES


def _split_id(cells: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """The row ID of a line and its cells, also when the ID shares the first
    cell with the label ("C-07 Support for local start")."""
    found = row_id(cells[0])
    if found is not None:
        return found, cells
    head, _, rest = cells[0].partition(" ")
    found = row_id(head) if rest else None
    if found is not None:
        return found, (head, rest, *cells[1:])
    return None, cells


def _row_values(cells: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """(label, values) of a row's cells after the ID.  With the columns lost
    ("Has AC support Yes" in one cell) the last word is taken as the value."""
    if len(cells) >= 2:
        return cells[0], cells[1:]
    words = cells[0].split() if cells else []
    if len(words) >= 2:
        return " ".join(words[:-1]), (words[-1],)
    return "", tuple(words)


def _scan_rows(lines: list[Line], notes: Notes) -> dict[str, IdRow]:
    found: dict[str, IdRow] = {}
    for line in lines:
        if not line.cells or not line.cells[0]:
            continue
        code, cells = _split_id(line.cells)
        if code is None:
            _label_row(line, found)
            continue
        label, values = _row_values(cells[1:])
        if code not in R.KNOWN_ROW_IDS:
            notes.add(f"rows.{code}", f"unknown row {code} (line {line.number}) ignored")
            continue
        if code in found:
            notes.add(f"rows.{code}", f"row {code} appears twice (line {line.number}); kept line {found[code].line}")
            continue
        found[code] = IdRow(code, label, values, line.number)
    return found


def _label_row(line: Line, found: dict[str, IdRow]) -> None:
    """An ID-less row whose label is a known row's wording (older formats)."""
    if len(line.cells) < 2 or not 5 <= len(line.cells[0]) <= 100:
        return
    match = best_match(line.cells[0].rstrip(":"), _LABEL_TO_ID, 0.9)
    if match is None or match.ambiguous or match.value in found:
        return
    values = line.cells[1:]
    if any(values):
        found[match.value] = IdRow(match.value, line.cells[0], values, line.number)


# ---------------------------------------------------------------- "Label: value" headers

HEADER_LABELS: dict[str, tuple[str, ...]] = {
    "vendor": ("Certificate Holder", "Vendor name"),
    "model": ("Product Designation",),
    "firmware": ("Firmware Version", "OCPP Software Version", "Software Version"),
    "number": ("Certificate Number",),
    "date": ("Certification Date",),
    "test_lab": ("Test laboratory",),
    "report": ("Test Report Reference",),
}
_FIELD_OF = {label.lower(): field for field, labels in HEADER_LABELS.items() for label in labels}
_LABEL_RE = re.compile(
    r"(?<![A-Za-z])("
    + "|".join(re.escape(label) for label in sorted(_FIELD_OF, key=len, reverse=True))
    + r")[ ]*(:|\t|$)",
    re.IGNORECASE,
)
# Phrases that end a header value when they follow it on the same line
# (seed 001: "BSS011K-V1000 OCPP Software version: 1.0 Hardware feature set as stated below").
_STOP_RE = re.compile(r"(?:^|\s)(?:hardware feature set|date:|product type:|device under test:)", re.IGNORECASE)


def _scan_labels(lines: list[Line]) -> dict[str, list[str]]:
    """Values of the header labels, those on the label's own line first (a
    value printed under its label is less certain: the layout may have moved)."""
    found: dict[str, list[str]] = {field: [] for field in HEADER_LABELS}
    below: dict[str, list[str]] = {field: [] for field in HEADER_LABELS}
    for index, line in enumerate(lines):
        text = line.text.strip()
        matches = [m for m in _LABEL_RE.finditer(text) if m.start() == 0 or m.group(2) == ":"]
        for position, match in enumerate(matches):
            field = _FIELD_OF.get(match.group(1).lower())
            if field is None:
                continue
            end = matches[position + 1].start() if position + 1 < len(matches) else len(text)
            value = next((squash(cell) for cell in text[match.end() : end].split("\t") if cell.strip()), "")
            value = _STOP_RE.split(value, maxsplit=1)[0].strip()
            if value:
                found[field].append(value)
            elif match.group(2) == ":" and len(matches) == 1 and (value := _value_below(lines, index)):
                below[field].append(value)
    return {field: found[field] + below[field] for field in HEADER_LABELS}


def _value_below(lines: list[Line], index: int) -> str:
    """A value printed under its label ("**Certificate Holder:**", blank line,
    then the name, possibly over two lines)."""
    taken: list[str] = []
    position = index + 1
    while position < len(lines) and not lines[position].text.strip() and position - index <= 2:
        position += 1
    while position < len(lines) and lines[position].text.strip() and len(taken) < 3:
        text = lines[position].text.strip()
        if _LABEL_RE.match(text) or "\t" in text:  # another label, or a table row
            break
        taken.append(text)
        position += 1
    return squash(" ".join(taken))


# ---------------------------------------------------------------- profile results

_PROFILE_NAMES: dict[str, FeatureProfile] = {
    "Core": FeatureProfile.CORE,
    "Firmware Management": FeatureProfile.FIRMWARE_MANAGEMENT,
    "Local Authorization List Management": FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT,
    "Local Auth List Management": FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT,
    "Smart Charging": FeatureProfile.SMART_CHARGING,
    "Remote Trigger": FeatureProfile.REMOTE_TRIGGER,
    "Reservation": FeatureProfile.RESERVATION,
    "Reservations": FeatureProfile.RESERVATION,
    # The whitepaper's programme: "Advanced Security" (newer), "Security extension" (older).
    "Advanced Security": FeatureProfile.SECURITY,
    "Security extension": FeatureProfile.SECURITY,
    "Security": FeatureProfile.SECURITY,
}
_PASS = frozenset({"pass", "passed"})
_NOT_TESTED = frozenset({"nottested", "na", "notapplicable", "notsupported", "none"})


def _scan_profiles(lines: list[Line]) -> list[ProfileResult]:
    found = []
    for line in lines:
        if len(line.cells) < 2 or len(line.cells[0]) > 45:
            continue
        result = key_form(line.cells[1])
        if result not in _PASS and result not in _NOT_TESTED:
            continue
        match = best_match(line.cells[0], _PROFILE_NAMES, 0.85)
        if match is None or match.ambiguous:
            continue
        description = " ".join(line.cells[2:])
        found.append(ProfileResult(match.value, result in _PASS, description, line.number))
    return found


# ---------------------------------------------------------------- raw configuration keys

_KEY_NAMES = {name: name for name in (*BY_NAME, *NON_STANDARD_KEYS)}


def _scan_declared(lines: list[Line], notes: Notes) -> dict[str, DeclaredKey]:
    """Configuration keys listed directly ("Configuration key / Value" tables of
    older certificates).  Inside such a table OCR slips are tolerated more."""
    found: dict[str, DeclaredKey] = {}
    in_table = False
    for line in lines:
        first = line.cells[0] if line.cells else ""
        if not line.text.strip():
            in_table = False
            continue
        if key_form(first) == "configurationkey":
            in_table = True
            continue
        if len(first) < 6 or len(first.split()) > 2 or _split_id(line.cells)[0] is not None:
            continue
        match = best_match(first, _KEY_NAMES, 0.75 if in_table else 0.9)
        if match is None or match.ambiguous:
            if in_table and re.fullmatch(r"[A-Za-z0-9]+", first):
                notes.add(f"declared_configuration.{first}", f"line {line.number}: not an OCPP 1.6 key; ignored")
            continue
        _declare(found, match.value, first, line, notes)
    return found


def _declare(found: dict[str, DeclaredKey], key: str, read: str, line: Line, notes: Notes) -> None:
    field = f"declared_configuration.{key}"
    raw = next((cell for cell in line.cells[1:] if cell), "")
    if key in found:
        notes.add(field, f"line {line.number}: '{read}' read as {key} again; kept line {found[key].line}")
        return
    if read != key:
        notes.add(field, f"line {line.number}: key '{read}' read as {key} (OCR slip)")
    if not raw:
        notes.add(field, f"line {line.number}: no value given")
        return
    found[key] = DeclaredKey(None if raw.strip() in {"-", "\u2013", "\u2014"} else squash(raw), line.number)


# ---------------------------------------------------------------- performance tables

_PERF_NAMES = {alias: field for field, aliases in R.PERFORMANCE_NAMES.items() for alias in aliases}


def _column_roles(cells: tuple[str, ...]) -> list[str]:
    """Roles of a performance table's columns from its header row."""
    forms = [key_form(cell) for cell in cells]
    has_min = any("min" in form for form in forms)
    roles = []
    for form in forms:
        if "min" in form:
            roles.append("min")
        elif "average" in form or "avg" in form or "mean" in form:
            roles.append("avg")
        elif "max" in form:
            roles.append("max" if has_min else "declared")
        elif "pics" in form or "declared" in form:
            roles.append("declared")
        elif "measured" in form:
            roles.append("measured")
        elif "unit" in form:
            roles.append("unit")
        else:
            roles.append("")
    return roles


def _scan_performance(lines: list[Line], notes: Notes) -> dict[str, PerfReading]:
    found: dict[str, PerfReading] = {}
    roles: list[str] = []
    for line in lines:
        if not line.cells:
            continue
        if key_form(line.cells[0]) == "name" and len(line.cells) >= 3:
            roles = _column_roles(line.cells)
            continue
        match = best_match(line.cells[0].rstrip(":"), _PERF_NAMES, 0.8)
        if match is None or match.ambiguous or len(line.cells) < 2:
            continue
        reading = _perf_reading(line, roles)
        if reading is None:
            notes.add(f"performance.{match.value}", f"line {line.number}: no time readable in {line.cells[1:4]}")
            continue
        earlier = found.get(match.value)
        if earlier is not None:  # the declared and the measured table each give a part
            reading = PerfReading(
                earlier.declared_s if earlier.declared_s is not None else reading.declared_s,
                earlier.measured or reading.measured,
                earlier.line,
            )
        found[match.value] = reading
    return found


def _perf_reading(line: Line, roles: list[str]) -> PerfReading | None:
    cells = line.cells
    unit = next((cells[i] for i, role in enumerate(roles) if role == "unit" and i < len(cells)), "")
    by_role: dict[str, float] = {}
    for index, role in enumerate(roles):
        if role in {"min", "avg", "max", "declared", "measured"} and index < len(cells):
            seconds = parse_seconds(cells[index], unit)
            if seconds is not None:
                by_role[role] = seconds
    if not by_role:  # no header seen: count the times in the row
        times = [t for t in (parse_seconds(cell, "s") for cell in cells[1:5]) if t is not None]
        names = {1: ("declared",), 2: ("declared", "measured")}.get(len(times), ("min", "max", "avg"))
        by_role = dict(zip(names, times, strict=False))  # a fourth time, if any, is ignored
    if not by_role:
        return None
    if {"min", "max", "avg"} <= by_role.keys():
        measured: tuple[float, ...] = (by_role["min"], by_role["max"], by_role["avg"])
    elif "measured" in by_role:
        measured = (by_role["measured"],)
    else:
        measured = ()
    return PerfReading(by_role.get("declared"), measured, line.number)


def _scan_measured_over(lines: list[Line]) -> str | None:
    target = {"Communication technology used during performance measurement": True}
    for line in lines:
        if len(line.cells) >= 2 and best_match(line.cells[0].rstrip(":"), target, 0.85):
            return line.cells[1] or None
    return None


# ---------------------------------------------------------------- connector table


def _connector_cell(cell: str) -> bool:
    """Does a cell read as a connector's current type, rating, type or cable?"""
    low = cell.lower()
    return bool(
        low in {"ac", "dc"}
        or re.fullmatch(r"\d+(\.\d+)?\s*(a|kw)", low)
        or "cable" in low
        or "socket" in low
        or "chademo" in low
        or re.match(r"[csw](CCS|Type|G105|Tesla|309|BS|CEE|Inductive|Resonant)", cell)
    )


def _scan_connectors(lines: list[Line]) -> list[tuple[tuple[str, ...], int]]:
    """Rows "1  DC  (phases)  cCCS2  Fixed Cable": a connector number first,
    then at least one cell that reads as a current type, type or cable."""
    found = []
    for line in lines:
        cells = line.cells
        if len(cells) < 2 or not re.fullmatch(r"[1-9]\d?", cells[0]):
            continue
        if any(_connector_cell(cell) for cell in cells[1:] if cell):
            found.append((cells, line.number))
    return found
