"""Replay of recorded sessions: shifted onto the run, played as recorded,
and the sessions that cannot fit counted by reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from session_bench import AC_3PHASE, DATA, booted, calls

from fleetsim.sessions.config import ReplaySessions
from fleetsim.sessions.replay import ConnectorSlot, Unfit, check_replay, load
from fleetsim.sessions.start import start_sessions

CSV = """arrival,departure,delivered_energy_kwh,station_id
2019-05-01 08:00:00-07:00,2019-05-01 10:00:00-07:00,6.5,A
2019-05-01 09:00:00-07:00,2019-05-01 11:30:00-07:00,4.0,B
2019-05-01 10:30:00-07:00,2019-05-01 12:00:00-07:00,3.0,A
2019-05-01 09:30:00-07:00,2019-05-01 09:40:00-07:00,20.0,B
2019-05-01 11:00:00-07:00,2019-05-01 10:00:00-07:00,1.0,A
2019-05-01 01:00:00-07:00,2019-05-01 02:00:00-07:00,1.0,A
"""


def _write(tmp_path: Path, text: str = CSV) -> ReplaySessions:
    path = tmp_path / "sessions.csv"
    path.write_text(text)
    return ReplaySessions(file=str(path))


def test_the_report_counts_unfit_sessions_by_reason(tmp_path: Path) -> None:
    config = _write(tmp_path)
    slots = [ConnectorSlot("CP-1", 1, 22.0), ConnectorSlot("CP-1", 2, 22.0)]
    report = check_replay(config, slots, datetime(2026, 1, 1, 6, 0, tzinfo=UTC))
    assert report.sessions == 6 and report.station_ids == 2 and report.connectors == 2
    assert report.unfit_by_reason() == {
        Unfit.TOO_MUCH_ENERGY: 1,  # 20 kWh in 10 minutes at 22 kW
        Unfit.DEPARTURE_BEFORE_ARRIVAL: 1,
        Unfit.BEFORE_START: 1,  # 01:00, the run starts at 06:00
    }
    # A, B go to connectors 1, 2; times are the local time of day, from the run's start at 06:00.
    assert [(s.slot, s.start_s / 3600, s.connected_s / 3600, s.energy_kwh) for s in report.fit] == [
        (0, 2.0, 2.0, 6.5), (1, 3.0, 2.5, 4.0), (0, 4.5, 1.5, 3.0)]
    # One connector for both ids: B's session overlaps A's.
    crowded = check_replay(config, slots[:1], datetime(2026, 1, 1, 6, 0, tzinfo=UTC))
    assert crowded.unfit_by_reason()[Unfit.CONNECTOR_BUSY] == 1


def test_now_shift_starts_with_the_first_arrival(tmp_path: Path) -> None:
    config = ReplaySessions(file=str(_write(tmp_path).file), shift="now")
    report = check_replay(config, [ConnectorSlot("CP-1", 1, 22.0), ConnectorSlot("CP-1", 2, 22.0)])
    assert min(s.start_s for s in report.fit) == 0.0  # the 01:00 session, now the first


def test_bad_rows_name_the_file_and_line(tmp_path: Path) -> None:
    config = _write(tmp_path, CSV.replace("2019-05-01 09:00:00-07:00,", "yesterday,", 1))
    with pytest.raises(ValueError, match=r"sessions\.csv: line 3"):
        load(config)
    with pytest.raises(ValueError, match="cannot read"):
        load(ReplaySessions(file=str(tmp_path / "missing.csv")))


def test_the_caltech_file_checks() -> None:
    config = ReplaySessions(file=str(DATA / "acn_caltech_2021_dcfc_sessions.csv"), shift="now")
    report = check_replay(config, [ConnectorSlot("CP-1", 1, 50.0)])
    assert report.sessions == 556 and len(report.fit) + len(report.unfit) == 556
    assert len(report.fit) > 500


def test_replayed_sessions_play_as_recorded(tmp_path: Path) -> None:
    config = _write(tmp_path)
    bench = booted(AC_3PHASE)  # 2 AC connectors; the run starts at 2026-01-01 00:00:30
    start_s = bench.now_s
    report = start_sessions([bench.station], config, seed=1, now_s=start_s)
    assert report is not None
    bench.run_for(24 * 3600.0)
    starts = calls(bench, "StartTransaction")
    stops = calls(bench, "StopTransaction")
    assert len(starts) == len(stops) == len(report.fit)
    played = sorted(zip(starts, stops, strict=True), key=lambda pair: pair[0][0])
    for fit, ((started_at, start), (stopped_at, stop)) in zip(report.fit, played, strict=True):
        assert start.connector_id == fit.slot + 1
        assert 0 < started_at - (start_s + fit.start_s) < 60  # plug-in, badge, Authorize
        assert abs(stopped_at - (start_s + fit.start_s + fit.connected_s)) < 1e-3  # departs as recorded
        assert abs(stop.meter_stop - start.meter_start - fit.energy_kwh * 1000) <= 1  # the recorded energy
    counters = bench.station.stats.counters
    assert counters["replay.unfit.too_much_energy"] == 1 and counters["replay.unfit.departure_before_arrival"] == 1
