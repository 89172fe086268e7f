"""Low-level reading of certificate text: markup removal, table cells, value
parsers and fuzzy matching for OCR slips.  Every function here is total: it
returns ``None`` (or an empty result) for text it cannot read, never raises."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

# Text extracted from PDFs: markdown bold, <b> tags, headings, links.
_MARKUP = re.compile(r"</?b>|\*\*|</?strong>", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MULTI_SPACE = re.compile(r" {2,}")


class Line(NamedTuple):
    number: int  # 1-based, for messages
    text: str  # markup removed
    cells: tuple[str, ...]  # tab-separated cells, stripped


def split_lines(text: str) -> list[Line]:
    """Lines of the certificate with markup removed and cells split.

    Tables come out of the PDFs tab-separated; when a line has no tab we fall
    back to runs of two or more spaces, which is how other extractors lay
    tables out."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u200b", "").replace("\x00", "")
    lines = []
    for number, raw in enumerate(text.split("\n"), start=1):
        clean = _LINK.sub(r"\1", _HEADING.sub("", _MARKUP.sub("", raw))).rstrip()
        if "\t" in clean:
            cells = tuple(cell.strip() for cell in clean.split("\t"))
        else:
            cells = tuple(cell.strip() for cell in _MULTI_SPACE.split(clean.strip()))
        lines.append(Line(number, clean, cells))
    return lines


def squash(text: str) -> str:
    """Collapse whitespace: for comparing and for values that wrapped."""
    return " ".join(text.split())


@lru_cache(maxsize=8192)
def key_form(text: str) -> str:
    """Lowercase letters and digits only: the form fuzzy matching compares."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


# ---------------------------------------------------------------- fuzzy matching


class Match(NamedTuple, Generic[T]):
    value: T
    score: float  # 1.0 = exact in key_form
    ambiguous: bool  # another different value scored almost as well


def best_match(text: str, choices: Mapping[str, T], cutoff: float) -> Match[T] | None:
    """The choice whose key is closest to ``text`` (difflib ratio on key_form),
    or None below ``cutoff``.  OCR slips ("ConnectorPhaseBotation") score ~0.95."""
    needle = key_form(text)
    if not needle:
        return None
    exact = [choice for choice in choices if key_form(choice) == needle]
    if exact:
        return Match(choices[exact[0]], 1.0, False)
    scored: list[tuple[float, str]] = []
    matcher = difflib.SequenceMatcher(b=needle, autojunk=False)
    for choice in choices:
        matcher.set_seq1(key_form(choice))
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        score = matcher.ratio()
        if score >= cutoff:
            scored.append((score, choice))
    if not scored:
        return None
    scored.sort(key=lambda item: -item[0])
    best_score, best_choice = scored[0]
    ambiguous = any(choices[other] != choices[best_choice] and best_score - score < 0.03 for score, other in scored[1:])
    return Match(choices[best_choice], best_score, ambiguous and best_score < 1.0)


# OCR confusions in digit positions: I/l/| read for 1, O/o for 0, Z for 2.
_OCR_DIGITS = str.maketrans({"I": "1", "l": "1", "|": "1", "i": "1", "O": "0", "o": "0", "Z": "2"})


def ocr_digits(text: str) -> str:
    return text.translate(_OCR_DIGITS)


# ---------------------------------------------------------------- row ID codes

_ROW_ID = re.compile(
    r"^(HFS|HF5|C|LA|RT|R|SC|F|SEC|AQ|ORS|0RS|DRS)\s?[-\u2010-\u2015_.]?\s?"
    r"([0-9OolI|]{1,3}(?:\.[0-9OolI|]{1,2})?)$"
)
_ID_PREFIX_FIX = {"HF5": "HFS", "0RS": "ORS", "DRS": "ORS"}


def row_id(cell: str) -> str | None:
    """Canonical row ID code of a table's first cell ("C-0I" -> "C-01"), or None."""
    found = _ROW_ID.match(cell.strip())
    if found is None:
        return None
    prefix = _ID_PREFIX_FIX.get(found.group(1), found.group(1))
    number = ocr_digits(found.group(2))
    major, _, minor = number.partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()):
        return None
    # C-* codes are two-digit ("C-01"); the others are not ("HFS-1", "AQ-11").
    major = f"{int(major):02d}" if prefix == "C" else str(int(major))
    return f"{prefix}-{major}" + (f".{int(minor)}" if minor else "")


# ---------------------------------------------------------------- value parsers

_TRUE = frozenset({"yes", "true", "y", "supported", "present", "pass", "passed", "enabled", "1"})
_FALSE = frozenset({"no", "false", "n", "none", "notsupported", "notpresent", "disabled", "0", "-", "na"})


def parse_bool(text: str) -> bool | None:
    word = key_form(text) if text.strip() != "-" else "-"
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    first = key_form(text.split()[0]) if text.split() else ""
    if first in {"yes", "true"}:
        return True
    if first in {"no", "false"}:
        return False
    return None


_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")


def parse_number(text: str) -> float | None:
    """The first number in ``text``: "120", "0.27", "20 s", "2,000,000", "0,42"."""
    found = _NUMBER.search(text)
    if found is None:
        return None
    digits = found.group()
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", digits):
        digits = digits.replace(",", "")  # thousands separators
    elif digits.count(",") == 1 and "." not in digits:
        digits = digits.replace(",", ".")  # decimal comma
    try:
        return float(digits)
    except ValueError:
        return None


def parse_int(text: str) -> int | None:
    if not re.fullmatch(r"\s*[-+]?[\d.,]+\s*[A-Za-z]*\s*", text):
        return None
    number = parse_number(text)
    if number is None or number != int(number):
        return None
    return int(number)


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:[.,]\d+)?)$")
_UNIT_SCALE = {"ms": 0.001, "msec": 0.001, "milliseconds": 0.001, "millisecond": 0.001, "min": 60.0, "minutes": 60.0}


def parse_seconds(text: str, unit: str = "") -> float | None:
    """A duration in seconds: "00:00:13" (hh:mm:ss), "20 s", "0.27" with a unit
    column of "seconds", "350 ms"."""
    text = text.strip()
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))
    if not re.fullmatch(r"[-+]?[\d.,]+\s*[A-Za-z]*\.?", text):
        return None
    number = parse_number(text)
    if number is None or number < 0:
        return None
    suffix = re.sub(r"[\d.,+\-\s]", "", text).lower() or unit.strip().lower()
    return round(number * _UNIT_SCALE.get(suffix, 1.0), 6)


def tokens(text: str) -> list[str]:
    """Items of a list written with spaces, commas, semicolons or slashes."""
    return [token for token in re.split(r"[\s,;/]+", text) if token]


def unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
