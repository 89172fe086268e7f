"""The certificates shipped with the package (not /work/shared: the repo stands
alone), parsed once per test session."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fleetsim.profiles import ParsedCertificate, parse_certificate

CERTIFICATES = Path(__file__).resolve().parents[2] / "fleetsim" / "profiles" / "certificates"

SEEDS = {
    "000": "000_4454b1c2914bc2a9.txt",
    "001": "001_aa05156870a5d640.txt",
    "002": "002_154225c6b0dc91a5.txt",
    "003": "003_0dab2e366865dcbe.txt",
    "004": "004_9c13cd2178ce7913.txt",
}


def seed_text(seed: str) -> str:
    return (CERTIFICATES / SEEDS[seed]).read_text(encoding="utf-8")


@cache
def parsed_seed(seed: str) -> ParsedCertificate:
    return parse_certificate(seed_text(seed))


def warned_fields(seed: str) -> set[str]:
    return {warning.field for warning in parsed_seed(seed).warnings}
