"""The parser never crashes: on any text it returns a result or raises
CertificateError; and every row it reads leaves a warning when removed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from profile_seeds import SEEDS, parsed_seed, seed_text

from fleetsim.profiles import CertificateError, ParsedCertificate, parse_certificate
from fleetsim.profiles import rows as R
from fleetsim.profiles._text import row_id

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.sampled_from(sorted(SEEDS))


def parse_or_refuse(text: str) -> ParsedCertificate | None:
    """The contract: a result, or CertificateError; any other exception fails."""
    try:
        parsed = parse_certificate(text)
    except CertificateError:
        return None
    assert parsed.profile.vendor or parsed.profile.model
    assert parsed.profile.id
    return parsed


@PROPERTY
@given(st.text())
def test_random_text(text: str) -> None:
    parse_or_refuse(text)


@PROPERTY
@given(
    st.lists(
        st.sampled_from(
            [
                "\t",
                "\n",
                ":",
                " ",
                "-",
                ".",
                "C-01",
                "ORS-3",
                "HFS-8",
                "Yes",
                "No",
                "1",
                "00:00:13",
                "Pass",
                "N/A",
                "Core",
                "cCCS2",
                "DC",
                "Vendor name:",
                "Product Designation:",
                "OCPP response timeout",
                "Name\tMin Value\tMax Value\tAverage Value",
                "Connector",
                "ConnectorPhaseRotation",
                "0.RST",
                "Configuration key",
                "**",
                "<b>",
            ]
        ),
        max_size=200,
    )
)
def test_random_certificate_like_text(parts: list[str]) -> None:
    parse_or_refuse("".join(parts))


@PROPERTY
@given(seeds, st.data())
def test_seed_with_lines_deleted(seed: str, data: st.DataObject) -> None:
    lines = seed_text(seed).split("\n")
    doomed = data.draw(st.sets(st.integers(0, len(lines) - 1), max_size=len(lines)))
    parse_or_refuse("\n".join(line for index, line in enumerate(lines) if index not in doomed))


@PROPERTY
@given(seeds, st.data())
def test_seed_with_characters_swapped_or_replaced(seed: str, data: st.DataObject) -> None:
    chars = list(seed_text(seed))
    for _ in range(data.draw(st.integers(1, 60))):
        position = data.draw(st.integers(0, len(chars) - 2))
        if data.draw(st.booleans()):
            chars[position], chars[position + 1] = chars[position + 1], chars[position]
        else:
            chars[position] = data.draw(st.characters())
    parse_or_refuse("".join(chars))


@PROPERTY
@given(seeds, st.data())
def test_seed_truncated(seed: str, data: st.DataObject) -> None:
    text = seed_text(seed)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    parse_or_refuse(text[start:end])


@PROPERTY
@given(seeds, st.randoms(use_true_random=False))
def test_seed_with_lines_shuffled_still_reads_identity(seed: str, rng) -> None:  # type: ignore[no-untyped-def]
    """Rows are found by ID and label, not by position."""
    lines = seed_text(seed).split("\n")
    rng.shuffle(lines)
    parsed = parse_or_refuse("\n".join(lines))
    assert parsed is not None
    assert parsed.profile.model == parsed_seed(seed).profile.model


# ---------------------------------------------------------------- each row counts

_FIELD_OF_ROW = {
    **{row.row_id: f"hardware.{row.field}" for row in R.HARDWARE_ROWS},
    **{row.row_id: f"features.{row.field}" for row in R.FEATURE_ROWS},
    **{row.row_id: f"security.{row.field}" for row in R.SECURITY_ROWS},
    **{row.row_id: f"measurands.{row.field}_tested" for row in R.MEASURAND_ROWS},
    **{row.row_id: f"answers.{row.field}" for row in R.ANSWER_ROWS},
    **{row.row_id: f"limits.{row.field}" for row in R.LIMIT_ROWS},
}
_SEED_000_ROWS = [
    (index, code)
    for index, line in enumerate(seed_text("000").split("\n"))
    if (code := row_id(line.split("\t")[0])) in _FIELD_OF_ROW and code != "HFS-8"  # HFS-8: the table still counts
]


def test_seed_000_has_every_kind_of_row() -> None:
    # HFS 10 + C 16 + LA/RT/R 4 + SC 2 + AQ 10 + ORS 19, counted by hand
    assert len(_SEED_000_ROWS) == 60


@pytest.mark.parametrize(("index", "code"), _SEED_000_ROWS, ids=[code for _, code in _SEED_000_ROWS])
def test_removing_a_row_leaves_a_warning_for_its_field(index: int, code: str) -> None:
    lines = seed_text("000").split("\n")
    del lines[index]
    parsed = parse_certificate("\n".join(lines))
    field = _FIELD_OF_ROW[code]
    assert field in {warning.field for warning in parsed.warnings}
    assert parsed.warnings != parsed_seed("000").warnings
