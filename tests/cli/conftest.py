"""Fixtures of the command-line tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The RunSpec of every run the command started (none, for bad input)."""
    seen: list[Any] = []
    monkeypatch.setattr("fleetsim.cli.run._execute", lambda spec, *_, **__: seen.append(spec))
    return seen
