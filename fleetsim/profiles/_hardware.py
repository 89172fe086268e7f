"""Building the identity and the hardware of a profile from a scanned sheet."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import NamedTuple

from fleetsim.profiles import rows as R
from fleetsim.profiles._notes import Notes
from fleetsim.profiles._scan import Sheet
from fleetsim.profiles._text import best_match, key_form, ocr_digits, parse_bool, parse_int, parse_number
from fleetsim.profiles.profile import (
    CableKind,
    CertificateFormat,
    Certification,
    CommunicationTechnology,
    Connector,
    ConnectorType,
    CurrentType,
    Hardware,
    RfidReaders,
)


class Identity(NamedTuple):
    vendor: str | None
    model: str | None
    firmware_version: str | None
    certification: Certification


def build_identity(sheet: Sheet, notes: Notes) -> Identity:
    vendor = _pick(sheet.labels["vendor"], "vendor", notes)
    model = _pick(sheet.labels["model"], "model", notes)
    firmware = _pick(sheet.labels["firmware"], "firmware_version", notes)
    certification = Certification(
        number=_certificate_number(sheet),
        date=_first_date(sheet.labels["date"]),
        test_lab=sheet.labels["test_lab"][0] if sheet.labels["test_lab"] else None,
        report_reference=sheet.labels["report"][0] if sheet.labels["report"] else None,
        format=CertificateFormat.SUBSET if _is_subset(sheet) else CertificateFormat.CURRENT,
    )
    if sheet.labels["date"] and certification.date is None:
        notes.add("certification.date", f"unreadable date {sheet.labels['date'][0]!r}")
    return Identity(vendor, model, firmware, certification)


def _pick(candidates: list[str], field: str, notes: Notes) -> str | None:
    """The value most occurrences agree on (the certificate page and the test
    report abstract both print vendor, model and firmware); ties go to the first."""
    if not candidates:
        return None
    counts = Counter(key_form(value) for value in candidates)
    best = max(candidates, key=lambda value: counts[key_form(value)])
    # Report any visible difference ("9b|Inx1.6-t07" vs "9b Inx1.6-t07" is an OCR slip in one of them).
    others = sorted({value for value in candidates if value.lower() != best.lower()})
    if others:
        notes.add(
            field, f"certificate disagrees with itself: {best!r} vs {', '.join(map(repr, others))}; used {best!r}"
        )
    return best


_CERT_NUMBER = re.compile(r"OCA\s*\.\s*([0-9OolI]{4})\s*\.\s*([0-9OolI]{4})\s*\.\s*([A-Z]{2,3})")


def _certificate_number(sheet: Sheet) -> str | None:
    for text in [*sheet.labels["number"], *(line.text for line in sheet.lines)]:
        found = _CERT_NUMBER.search(text)
        if found:
            return f"OCA.{ocr_digits(found.group(1))}.{ocr_digits(found.group(2))}.{found.group(3)}"
    return None


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


def parse_date(text: str) -> dt.date | None:
    """ "January 9, 2026", "9 January 2026", "2026-01-09", "2024.03.13"."""
    numeric = re.search(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})", text)
    named = re.search(r"([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})", text)
    named_first = re.search(r"(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})", text)
    try:
        if numeric:
            return dt.date(int(numeric.group(1)), int(numeric.group(2)), int(numeric.group(3)))
        if named and named.group(1).lower() in _MONTHS:
            return dt.date(int(named.group(3)), _MONTHS[named.group(1).lower()], int(named.group(2)))
        if named_first and named_first.group(2).lower() in _MONTHS:
            return dt.date(int(named_first.group(3)), _MONTHS[named_first.group(2).lower()], int(named_first.group(1)))
    except ValueError:  # "February 30": not a date
        return None
    return None


def _first_date(candidates: list[str]) -> dt.date | None:
    return next((date for date in map(parse_date, candidates) if date is not None), None)


def _is_subset(sheet: Sheet) -> bool:
    """Old "Subset Certificate" layout: says so, or lists raw keys and no
    C-/ORS- rows (call before the keys are turned into rows)."""
    coded = any(row_id.startswith(("C-", "ORS-")) for row_id in sheet.rows)
    return "subset certificate" in sheet.lowered or (len(sheet.declared) >= 5 and not coded)


# ---------------------------------------------------------------- hardware

_FLAG_ROWS = {row.row_id: row.field for row in R.HARDWARE_ROWS[:7]}  # HFS-1..HFS-7, yes/no


def build_hardware(sheet: Sheet, notes: Notes) -> Hardware:
    flags: dict[str, bool | None] = {}
    for row_id, field in _FLAG_ROWS.items():
        flags[field] = _bool_row(sheet, row_id, f"hardware.{field}", notes)
    _infer_from_phase_rotation(sheet, flags, notes)
    count = _connector_count(sheet, notes)
    return Hardware(
        connectors=_connectors(sheet, flags, count, notes),
        communication=read_communication(_value(sheet, "HFS-9"), "hardware.communication", notes),
        rfid_readers=_rfid(sheet, notes),
        dc_power_kw=_dc_power(sheet, notes),
        **flags,
    )


def _value(sheet: Sheet, row_id: str) -> str:
    row = sheet.rows.get(row_id)
    return row.value if row is not None else ""


def _bool_row(sheet: Sheet, row_id: str, field: str, notes: Notes) -> bool | None:
    row = sheet.rows.get(row_id)
    if row is None:
        return None
    value = parse_bool(row.value)
    if value is None:
        notes.add(field, f"row {row_id} (line {row.line}): cannot read {row.value!r} as yes/no")
    return value


def _infer_from_phase_rotation(sheet: Sheet, flags: dict[str, bool | None], notes: Notes) -> None:
    """Older certificates state no AC/DC or phases; a ConnectorPhaseRotation of
    RST-style values (OCPP 1.6 §9.1 ConnectorPhaseRotation) means three-phase AC connectors."""
    rotation = sheet.declared.get("ConnectorPhaseRotation")
    if rotation is None or rotation.value is None or flags["ac_support"] is not None:
        return
    codes = {code.upper() for code in re.findall(r"\d+\.([A-Za-z]+)", rotation.value)}
    if codes and codes <= {"RST", "RTS", "SRT", "STR", "TRS", "TSR"}:
        flags["ac_support"] = True
        flags["three_phase"] = True if flags["three_phase"] is None else flags["three_phase"]
        reason = (
            f"not stated; inferred from ConnectorPhaseRotation {rotation.value!r} (phase rotation implies 3-phase AC)"
        )
        notes.add("hardware.ac_support", reason)
        notes.add("hardware.three_phase", reason)


_COUNT_WORDS = {"single": 1, "one": 1, "dual": 2, "double": 2, "two": 2, "twin": 2, "three": 3, "triple": 3, "four": 4}


def _connector_count(sheet: Sheet, notes: Notes) -> int | None:
    row = sheet.rows.get("HFS-8")
    if row is None:
        return None
    count = parse_int(row.value)
    if count is None:
        count = _COUNT_WORDS.get(key_form(row.value))
    if count is None or not 0 < count < 100:
        notes.add("hardware.connectors", f"row HFS-8 (line {row.line}): cannot read {row.value!r} as a number")
        return None
    return count


def _connectors(sheet: Sheet, flags: dict[str, bool | None], count: int | None, notes: Notes) -> tuple[Connector, ...]:
    by_id: dict[int, Connector] = {}
    for cells, line in sheet.connectors:
        connector = _table_connector(cells, line, flags, notes)
        by_id.setdefault(connector.connector_id, connector)
    table = list(by_id.values())
    if table:
        if count is not None and count != len(table):
            notes.add("hardware.connectors", f"HFS-8 says {count} connectors, the connector table lists {len(table)}")
        return tuple(sorted(table, key=lambda connector: connector.connector_id))
    if count is None:
        notes.add("hardware.connectors", "neither a connector table nor a number of connectors found")
        return ()
    notes.add(
        "hardware.connectors", f"no connector table; {count} connector(s) built from the hardware rows, type unknown"
    )
    return tuple(
        Connector(
            connector_id=number,
            current_type=_only(flags, CurrentType.AC, CurrentType.DC),
            phases=_phases(flags) if _only(flags, CurrentType.AC, CurrentType.DC) is CurrentType.AC else None,
            connector_type=None,
            cable=_cable(flags),
        )
        for number in range(1, count + 1)
    )


def _only(flags: dict[str, bool | None], ac: CurrentType, dc: CurrentType) -> CurrentType | None:
    if flags["ac_support"] and not flags["dc_support"]:
        return ac
    if flags["dc_support"] and not flags["ac_support"]:
        return dc
    return None


def _phases(flags: dict[str, bool | None]) -> int | None:
    present = [n for n, field in ((1, "single_phase"), (2, "two_phase"), (3, "three_phase")) if flags[field]]
    return present[-1] if present else None


def _cable(flags: dict[str, bool | None]) -> CableKind | None:
    if flags["fixed_cable"] and not flags["detachable_cable"]:
        return CableKind.FIXED
    if flags["detachable_cable"] and not flags["fixed_cable"]:
        return CableKind.SOCKET
    return None


def _table_connector(cells: tuple[str, ...], line: int, flags: dict[str, bool | None], notes: Notes) -> Connector:
    """A connector-table row (line ``line``), each cell recognised by its
    content so missing or reordered columns do not shift values."""
    number = int(cells[0])
    current: CurrentType | None = None
    phases: int | None = None
    connector_type: ConnectorType | None = None
    cable: CableKind | None = None
    amps: float | None = None
    kilowatts: float | None = None
    for cell in (cell for cell in cells[1:] if cell):
        low = cell.lower()
        if low in {"ac", "dc"}:
            current = CurrentType(cell.upper())
        elif re.fullmatch(r"[123]", cell):
            phases = int(cell)
        elif re.fullmatch(r"\d+(\.\d+)?\s*a", low):
            amps = parse_number(cell)
        elif re.fullmatch(r"\d+(\.\d+)?\s*kw", low):
            kilowatts = parse_number(cell)
        elif "cable" in low or "socket" in low or "tether" in low:
            cable = CableKind.SOCKET if "socket" in low or "detachable" in low else CableKind.FIXED
        else:
            field = f"hardware.connectors[{number}].connector_type"
            connector_type = read_connector_type(cell, field, notes, line)
    current = current or _only(flags, CurrentType.AC, CurrentType.DC)
    if current is CurrentType.AC and phases is None:
        phases = _phases(flags)
    return Connector(
        connector_id=number,
        current_type=current,
        phases=None if current is CurrentType.DC else phases,
        connector_type=connector_type,
        cable=cable or _cable(flags),
        max_current_a=amps,
        max_power_kw=kilowatts,
    )


_TYPES = {member.value: member for member in ConnectorType} | {"CHAdeMO": ConnectorType.C_G105}


def read_connector_type(text: str, field: str, notes: Notes, line: int) -> ConnectorType | None:
    """A connector type cell (``line`` for messages): "cCCS2" -> cCCS2; the
    OCR slip "cCCSI" -> cCCS1 (I read for 1), noted."""
    exact = {key_form(name): member for name, member in _TYPES.items()}
    if key_form(text) in exact:
        return exact[key_form(text)]
    # OCR confusions only in the trailing digit position ("cCCSI", "cType|").
    repaired = text[:-1] + ocr_digits(text[-1]) if text else text
    if key_form(repaired) in exact:
        notes.add(field, f"line {line}: read {text!r} as {exact[key_form(repaired)].value} (OCR slip)")
        return exact[key_form(repaired)]
    match = best_match(text, _TYPES, 0.8)
    if match is None or match.ambiguous:
        notes.add(field, f"line {line}: unknown connector type {text!r}")
        return None
    notes.add(field, f"line {line}: read {text!r} as {match.value.value} (closest known type)")
    return match.value


_COMMUNICATION = (
    (("ethernet", "lan", "wired"), CommunicationTechnology.ETHERNET),
    (("wifi", "wlan", "wireless"), CommunicationTechnology.WIFI),
    (
        ("mobile", "cellular", "lte", "4g", "5g", "3g", "gsm", "gprs", "umts", "nbiot", "modem"),
        CommunicationTechnology.MOBILE_NETWORK,
    ),
)


def read_communication(text: str, field: str, notes: Notes) -> tuple[CommunicationTechnology, ...]:
    """ "Mobile Network, WiFi, Ethernet" -> the three technologies, in order."""
    found: list[CommunicationTechnology] = []
    for part in re.split(r"[,;/+&]|\band\b", text):
        form = key_form(part)
        if not form:
            continue
        tech = next((tech for words, tech in _COMMUNICATION if any(word in form for word in words)), None)
        if tech is None:
            notes.add(field, f"unknown communication technology {part.strip()!r}")
        elif tech not in found:
            found.append(tech)
    return tuple(found)


def _rfid(sheet: Sheet, notes: Notes) -> RfidReaders | None:
    row = sheet.rows.get("HFS-10")
    if row is None:
        return None
    form = key_form(row.value)
    for words, readers in (
        ({"single", "one", "1", "yes"}, RfidReaders.SINGLE),
        ({"multiple", "two", "2", "dual", "many"}, RfidReaders.MULTIPLE),
        ({"none", "no", "0"}, RfidReaders.NONE),
    ):
        if form in words:
            return readers
    notes.add("hardware.rfid_readers", f"row HFS-10 (line {row.line}): cannot read {row.value!r}")
    return None


def _dc_power(sheet: Sheet, notes: Notes) -> float | None:
    row = sheet.rows.get("HFS-11")
    if row is None or not row.value or row.value.strip() == "-":
        return None
    power = parse_number(row.value)
    if power is None or not 0 < power < 10_000:
        notes.add("hardware.dc_power_kw", f"row HFS-11 (line {row.line}): cannot read {row.value!r} as kW")
        return None
    if "w" in row.value.lower() and "kw" not in row.value.lower():
        power /= 1000  # written in W
    return power
