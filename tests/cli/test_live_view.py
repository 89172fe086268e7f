"""The live view, in a terminal of 80 columns (a pseudo-terminal, its output
replayed on a minimal terminal model): it never wraps, it is redrawn in place
(one copy on screen at the end, however many seconds it ran), and the end
screen follows it.  Anywhere else (a pipe, a CI log) there is no control
sequence at all."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from fleetsim.metrics.live import ActionLatency, LastInterval, LiveSnapshot
from fleetsim.report.terminal import live_lines, log_line

RUN = [sys.executable, "-m", "fleetsim", "run", "--stations", "20", "--profile", "bionever-bss011k-v1000",
       "--duration", "4s", "--no-csms-calls"]  # no Reset: every station stays booted
_CONTROL = re.compile(rb"\x1b\[([0-9;]*)([A-Za-z])|[\r\n]|[^\x1b\r\n]+", re.DOTALL)


class Screen:
    """Rows of text (that never wrap: a row longer than the terminal is one a
    terminal would have wrapped) and a cursor.  Knows what the live view and click send: CR, LF, CPL (ESC[nF), EL
    (ESC[2K), ED (ESC[J) and SGR (colours, ignored)."""

    def __init__(self) -> None:
        self.rows: list[str] = [""]
        self.row = self.column = 0

    def feed(self, data: bytes) -> None:
        for match in _CONTROL.finditer(data):
            text = match.group(0)
            if match.group(2) is not None:
                self._control(match.group(2).decode(), match.group(1).decode())
            elif text == b"\r":
                self.column = 0
            elif text == b"\n":
                self.row += 1
                self.rows += [""] * (self.row + 1 - len(self.rows))
            else:
                self._write(text.decode("utf-8", "replace"))

    def _control(self, final: str, argument: str) -> None:
        if final == "F":
            self.row, self.column = max(0, self.row - int(argument or 1)), 0
        elif final == "J":
            self.rows[self.row] = self.rows[self.row][: self.column]
            del self.rows[self.row + 1:]
        elif final == "K":
            self.rows[self.row] = "" if argument == "2" else self.rows[self.row][: self.column]

    def _write(self, text: str) -> None:
        line = self.rows[self.row].ljust(self.column)
        self.rows[self.row] = line[: self.column] + text + line[self.column + len(text):]
        self.column += len(text)


def run_in_terminal(args: list[str], columns: int, timeout_s: float = 60) -> tuple[int, bytes]:
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(args, stdin=secondary, stdout=secondary, stderr=secondary,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "xterm"})
    os.close(secondary)
    output, deadline = b"", time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if select.select([primary], [], [], 0.5)[0]:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: the process and its terminal are gone
                    break
                if not data:
                    break
                output += data
        return process.wait(timeout=10), output
    finally:
        process.kill()
        os.close(primary)


def test_the_live_view_fits_80_columns_and_is_redrawn_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_in_terminal([*RUN, "--out", str(out)], columns=80)
    assert code == 0, output.decode(errors="replace")
    screen = Screen()
    screen.feed(output)
    assert output.count(b"\x1b[5F") >= 2  # redrawn several times...
    # ...never reaching the last column (where a terminal wraps); but for the results' path.
    assert max(len(row) for row in screen.rows if str(out) not in row) < 80
    assert sum(row.startswith("time      ") for row in screen.rows) == 1  # one copy left: no stale lines
    live = next(i for i, row in enumerate(screen.rows) if row.startswith("time      "))
    assert [row.split()[0] for row in screen.rows[live:live + 5]] == ["time", "stations", "messages", "problems",
                                                                     "slowest"]
    assert "20 of 20 booted" in screen.rows[live + 1]
    verdict = next(row for row in screen.rows[live + 5:] if row)
    assert verdict.startswith("PASSED: 20 of 20 stations booted")


def test_a_log_gets_no_control_sequence(tmp_path: Path) -> None:
    process = subprocess.run([*RUN, "--duration", "11s", "--speed", "20", "--out", str(tmp_path / "out")],
                             capture_output=True, timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.returncode == 0, process.stderr
    assert b"\x1b" not in process.stdout + process.stderr
    logged = [line for line in process.stderr.decode().splitlines() if line.startswith("[0:")]
    assert len(logged) == 1 and logged[0].startswith("[0:10/0:11] 20/20 booted, ")  # one every 10 s


def big_fleet() -> LiveSnapshot:
    return LiveSnapshot(
        elapsed_s=4000.0, duration_s=7200.0, fleet=20_000, started=19_000, connected=18_888, booted=18_777,
        charging=12_345, messages_out=10**9, messages_in=10**9, out_per_s=23_456.7, in_per_s=23_400.2,
        errors=99_999, timeouts=12_345,
        connections=(("a-model", (("connect.failed.timeout", 123_456), ("connect.reconnect", 45_678))),),
        declared_ms=(("SignedFirmwareStatusNotification", 10_000.0),),
        last_interval=LastInterval(4000.0, 1.0, (ActionLatency("SignedFirmwareStatusNotification", 5, 1.0, 9_876.5),)),
    )


def test_the_lines_of_a_big_fleet_are_cut_to_the_width() -> None:
    for width in (80, 60):
        lines = live_lines(big_fleet(), width)
        assert len(lines) == 5 and max(len(line) for line in lines) == width - 1
    assert live_lines(big_fleet(), 120) == [
        "time      1:06:40 of 2:00:00, 53:20 to go",
        "stations  18,777 of 20,000 booted, 18,888 connected, 12,345 charging, 1,000 to start",
        "messages  23,457/s sent, 23,400/s received",
        "problems  99,999 errors, 12,345 timeouts, 45,678 reconnects, 123,456 failed connects (timeout)",
        "slowest   p99 9.88 s SignedFirmwareStatusNotification, limit 10 s (last 1 s)",
    ]
    assert log_line(big_fleet()).startswith("[1:06:40/2:00:00] 18,777/20,000 booted, 23,457 msg/s, 99,999 errors")
