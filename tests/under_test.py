"""The fleetsim under test, for the processes a test starts (on PYTHONPATH):
the source tree, or where a compiled build is installed (make test-fast).
Importable from every test: tests/conftest.py's folder is on sys.path."""

from __future__ import annotations

from pathlib import Path

import fleetsim

UNDER_TEST = Path(fleetsim.__file__).resolve().parents[1]
