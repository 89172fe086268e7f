"""What the command-line tests share: running fleetsim in-process, writing a
scenario, and the shape of a usage error."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from fleetsim.cli import main
from fleetsim.inputs import MAX_MESSAGE_CHARS


def fleetsim(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="fleetsim")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def assert_one_line_usage_error(result: Result, *names: str) -> str:
    """Exit 2, no exception but the exit, one "error" line of bounded length
    naming each of ``names``; the line."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
    assert len(lines) == 1, result.stderr
    assert len(lines[0]) <= MAX_MESSAGE_CHARS + 40, len(lines[0])
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]
