"""The station test bench (tests/station/harness.py) for session tests: a
station paired with the embedded CSMS's pure logic, in virtual time."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "station"))

from core_steps import AC_3PHASE, DC_2CCS, booted, calls, meter_values, model
from harness import Bench

DATA = Path(__file__).resolve().parents[2] / "scenarios" / "data"

__all__ = ["AC_3PHASE", "DATA", "DC_2CCS", "Bench", "booted", "calls", "meter_values", "model"]
