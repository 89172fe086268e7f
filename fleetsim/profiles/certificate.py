"""Read an OCA OCPP 1.6 certificate (text extracted from its PDF) into a
:class:`StationProfile`, with a warning for every field it could not read.

Both formats seen in published certificates are understood:

* the current one: ID-coded tables (HFS-*, C-*, LA-*, RT-*, R-*, SC-*, F-*,
  SEC-*, AQ-*, ORS-*), a profile result table and a performance table (vendor
  maximum, then lab-measured min/max/average), as markdown or plain text;
* the older "Subset Certificate": profiles marked Pass or N/A, the station's
  configuration keys listed directly, and PICS value vs measured ``hh:mm:ss``.

Rows are found by ID code or, failing that, by fuzzy label match (OCR slips);
missing rows become warnings, never errors.  :class:`CertificateError` is
raised only when nothing usable is found.
"""

from __future__ import annotations

import re
from functools import reduce

import msgspec

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.profiles import rows as R
from fleetsim.profiles._features import (
    build_answers,
    build_features,
    build_limits,
    build_measurands,
    build_performance,
    build_security,
    not_tested,
    passed,
)
from fleetsim.profiles._hardware import build_hardware, build_identity
from fleetsim.profiles._legacy import rows_from_declared
from fleetsim.profiles._notes import Notes, ParseWarning
from fleetsim.profiles._scan import ProfileResult, Sheet, scan
from fleetsim.profiles.profile import StationProfile

__all__ = ["CertificateError", "ParseWarning", "ParsedCertificate", "make_id", "parse_certificate"]

# A certificate's text is about 10 kB; anything far larger is not one.
MAX_TEXT_CHARS = 2_000_000


class CertificateError(ValueError):
    """The text holds nothing usable as a certificate: no vendor and no product
    designation, or none of the certificate's tables."""


class ParsedCertificate(msgspec.Struct, frozen=True):
    profile: StationProfile
    warnings: tuple[ParseWarning, ...]  # what could not be read, field by field


def parse_certificate(text: str) -> ParsedCertificate:
    """Parse certificate text.  Raises :class:`CertificateError` only when
    nothing usable is found; everything else is a warning."""
    if len(text) > MAX_TEXT_CHARS:
        raise CertificateError(f"text of {len(text)} characters is too large for a certificate")
    notes = Notes()
    sheet = scan(text, notes)
    identity = build_identity(sheet, notes)
    if identity.vendor is None and identity.model is None:
        raise CertificateError("no vendor (Certificate Holder / Vendor name) and no Product Designation found")
    if not (sheet.rows or sheet.profiles or sheet.declared or sheet.performance):
        raise CertificateError("none of the certificate's tables found (HFS-*, C-*, ORS-*, profiles, performance)")
    sheet = _with_declared(sheet, notes)
    profile = StationProfile(
        id=make_id(identity.vendor, identity.model),
        vendor=identity.vendor,
        model=identity.model,
        firmware_version=identity.firmware_version,
        certification=identity.certification,
        hardware=build_hardware(sheet, notes),
        profiles_passed=passed(sheet),
        profiles_not_tested=not_tested(sheet),
        features=build_features(sheet, notes),
        security=build_security(sheet, notes),
        measurands=build_measurands(sheet, notes),
        limits=build_limits(sheet, notes),
        answers=build_answers(sheet, notes),
        performance=build_performance(sheet, notes),
        declared_configuration={key: entry.value for key, entry in sheet.declared.items()},
    )
    _note_missing(profile, sheet, notes)
    return ParsedCertificate(profile, notes.result())


def make_id(vendor: str | None, model: str | None) -> str:
    """Short slug: first word of the vendor + the model ("bescore-bsc-s12bcc")."""
    vendor_words = re.findall(r"[a-z0-9]+", (vendor or "").lower())
    model_slug = "-".join(re.findall(r"[a-z0-9]+", (model or "").lower()))
    slug = "-".join(part for part in (vendor_words[0] if vendor_words else "", model_slug) if part)
    return slug[:64].strip("-") or "station"


def _with_declared(sheet: Sheet, notes: Notes) -> Sheet:
    """Turn listed configuration keys into rows (older format) and, with no
    profile result table, take the profiles from SupportedFeatureProfiles."""
    profiles = sheet.profiles
    declared = sheet.declared.get("SupportedFeatureProfiles")
    if not profiles and declared is not None and declared.value:
        names = {profile.value.lower(): profile for profile in FeatureProfile}
        found = [names[word.lower()] for word in re.split(r"[\s,]+", declared.value) if word.lower() in names]
        profiles = [ProfileResult(profile, True, "", declared.line) for profile in found]
        notes.add("profiles_passed", "no profile result table; taken from the SupportedFeatureProfiles key")
    if not profiles:
        notes.add("profiles_passed", "no certification profile results found")
    return sheet._replace(rows=rows_from_declared(sheet.declared) | sheet.rows, profiles=profiles)


# ---------------------------------------------------------------- what is missing


def _expected_rows(profile: StationProfile, sheet: Sheet) -> list[tuple[tuple[str, ...], str]]:
    """(row IDs, field) pairs the certificate should state for this station."""
    supported = profile.supported_profiles
    security = profile.security
    whitepaper = (
        "security whitepaper" in sheet.lowered
        or FeatureProfile.SECURITY in profile.profiles_passed
        or any(row_id in sheet.rows for row_id in ("C-11", "SEC-1", "SEC-2", "SEC-3"))
    )
    certificates = bool(security.profile_2_tls_basic_auth or security.profile_3_tls_client_cert)
    expected = [((row.row_id,), f"hardware.{row.field}") for row in R.HARDWARE_ROWS if row.row_id != "HFS-8"]
    if not profile.hardware.dc_support:
        expected = [item for item in expected if item[0] != ("HFS-11",)]
    conditional = {
        "R-1": bool(profile.features.reservations),
        "SC-1.1": FeatureProfile.SMART_CHARGING in supported,
        "SC-1.2": FeatureProfile.SMART_CHARGING in supported,
        "F-1": FeatureProfile.FIRMWARE_MANAGEMENT in supported,
        "ORS-12": FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT in supported,
        "ORS-13": FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT in supported,
        "ORS-14": FeatureProfile.SMART_CHARGING in supported,
        "ORS-15": FeatureProfile.SMART_CHARGING in supported,
        "ORS-19": FeatureProfile.SMART_CHARGING in supported,
        "ORS-16": FeatureProfile.FIRMWARE_MANAGEMENT in supported,
        "ORS-17": certificates,
        "ORS-18": certificates,
    }
    for table, section in ((R.FEATURE_ROWS, "features"), (R.LIMIT_ROWS, "limits"), (R.ANSWER_ROWS, "answers")):
        expected += [((row.row_id,), f"{section}.{row.field}") for row in table if conditional.get(row.row_id, True)]
    expected += [((row.row_id,), f"measurands.{row.field}_tested") for row in R.MEASURAND_ROWS]
    if whitepaper:
        expected += [
            (("C-11", "SEC-1"), "security.profile_1_basic_auth"),
            (("SEC-2",), "security.profile_2_tls_basic_auth"),
            (("SEC-3",), "security.profile_3_tls_client_cert"),
        ]
        if certificates:
            expected.append((("C-12", "SEC-4"), "security.cipher_suites"))
    return expected


def _field_value(profile: StationProfile, path: str) -> object:
    return reduce(getattr, path.split("."), profile)


def _note_missing(profile: StationProfile, sheet: Sheet, notes: Notes) -> None:
    already = notes.fields()
    if not any(row_id.startswith("AQ-") for row_id in sheet.rows):
        notes.add("answers", "no Additional Questions (AQ-*) rows; every answer unknown")
        already.update(f"answers.{row.field}" for row in R.ANSWER_ROWS)
    for row_ids, path in _expected_rows(profile, sheet):
        if path in already or any(row_id in sheet.rows for row_id in row_ids):
            continue
        if _field_value(profile, path) in (None, ()):
            label = R.row_label(row_ids[0]) or ""
            notes.add(path, f"not stated: no {' / '.join(row_ids)} row ({label})")
    for path in (
        "vendor",
        "model",
        "firmware_version",
        "certification.number",
        "certification.date",
        "certification.test_lab",
    ):
        if _field_value(profile, path) is None and path not in already:
            notes.add(path, "not found in the certificate")
    for name in R.PERFORMANCE_NAMES:
        timing = getattr(profile.performance, name)
        if timing.declared_max_s is None:
            notes.add(f"performance.{name}.declared_max_s", "vendor maximum not stated")
        if timing.measured is None and f"performance.{name}.measured" not in already:
            notes.add(f"performance.{name}.measured", "lab measurement not stated")
