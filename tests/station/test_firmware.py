"""Firmware Management (OCPP 1.6 §4.4, §4.5, §5.8 GetDiagnostics, §5.19
UpdateFirmware) and its TriggerMessage statuses (§5.17)."""

from __future__ import annotations

import pytest
from feature_steps import (
    AC_1PHASE,
    CORE_ONLY,
    DC_ALL,
    booted,
    calls,
    csms_call,
    reboot,
    refused_with,
    start_charging,
    status_of,
    unplug,
    variant,
    without,
)
from harness import Bench

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.payloads.firmware import GetDiagnosticsReq, UpdateFirmwareReq
from fleetsim.ocpp.payloads.remote_trigger import TriggerMessageReq

FTP = "ftp://firmware.example/cp-2.0.bin"  # AC_1PHASE certified FTP only (ORS-16)


def update(bench: Bench, *, in_s: float = 0.0, location: str = FTP) -> None:
    request = UpdateFirmwareReq(location=location, retrieve_date=bench.timebase.wall(bench.now_s + in_s))
    answer = csms_call(bench, request, wait_s=0.01)
    assert type(answer).__name__ == "UpdateFirmwareConf"


def firmware_statuses(bench: Bench, since_s: float = 0.0) -> list[tuple[float, str]]:
    return [(at, str(p.status)) for at, p in calls(bench, "FirmwareStatusNotification", since_s)]


def diagnostics_statuses(bench: Bench) -> list[tuple[float, str]]:
    return [(at, str(p.status)) for at, p in calls(bench, "DiagnosticsStatusNotification")]


def test_an_update_downloads_installs_reboots_and_reports_installed_from_the_new_firmware() -> None:
    bench = booted(AC_1PHASE)
    asked_at = bench.now_s
    update(bench, in_s=120)
    bench.run_for(100)
    assert firmware_statuses(bench) == [], "nothing before retrieveDate"

    down_at = reboot(bench)
    (downloading, downloaded, installing, installed) = firmware_statuses(bench)
    assert [s for _, s in (downloading, downloaded, installing, installed)] == [
        "Downloading", "Downloaded", "Installing", "Installed"]
    assert downloading[0] == pytest.approx(asked_at + 120, abs=0.1)
    assert 30 <= downloaded[0] - downloading[0] <= 120.1
    assert installing[0] == pytest.approx(downloaded[0], abs=0.1)
    assert 30 <= down_at - installing[0] <= 62
    boot_at = calls(bench, "BootNotification")[-1][0]
    assert installed[0] > boot_at, "TC_044: Installed comes from the rebooted station"
    assert bench.station.stats.counters["reboot"] == 1

    answer = csms_call(bench, TriggerMessageReq(requested_message="FirmwareStatusNotification"))
    assert status_of(answer) == "Accepted"
    assert firmware_statuses(bench)[-1][1] == "Idle", "§4.5: Idle once nothing runs"


def test_a_location_the_station_cannot_fetch_fails_the_download() -> None:
    bench = booted(AC_1PHASE)
    update(bench, location="https://firmware.example/cp-2.0.bin")
    bench.run_for(300)
    assert [s for _, s in firmware_statuses(bench)] == ["DownloadFailed"]
    assert not bench.station.want_disconnect


def test_without_download_during_a_transaction_the_update_waits_for_it_to_end() -> None:
    bench = booted(AC_1PHASE)  # AQ-4: no download during a transaction
    start_charging(bench, 1)
    update(bench)
    bench.run_for(600)
    assert firmware_statuses(bench) == []
    stopped_at = bench.now_s
    unplug(bench, 1)
    bench.run_for(1)
    assert firmware_statuses(bench)[0] == (pytest.approx(stopped_at, abs=0.01), "Downloading")


def test_with_download_during_a_transaction_only_the_installation_waits() -> None:
    bench = Bench(variant(AC_1PHASE, firmware_download_during_transaction=True))
    bench.connect()
    bench.run_for(30)
    start_charging(bench, 1)
    update(bench)
    bench.run_for(600)
    assert [s for _, s in firmware_statuses(bench)] == ["Downloading", "Downloaded"]
    assert bench.station.connectors[0].transaction is not None, "the transaction was not disturbed"
    stopped_at = bench.now_s
    unplug(bench, 1)
    bench.run_for(1)
    assert firmware_statuses(bench)[-1] == (pytest.approx(stopped_at, abs=0.01), "Installing")


def test_a_new_update_replaces_the_one_in_progress() -> None:
    bench = booted(AC_1PHASE)
    update(bench)
    bench.run_for(10)
    update(bench, location="ftp://firmware.example/cp-2.1.bin")
    reboot(bench)
    assert [s for _, s in firmware_statuses(bench)] == ["Downloading", "Downloading", "Downloaded", "Installing",
                                                        "Installed"]


def test_get_diagnostics_names_the_file_and_reports_the_upload() -> None:
    bench = booted(AC_1PHASE)
    answer = csms_call(bench, GetDiagnosticsReq(location="ftp://diagnostics.example/upload"), wait_s=0.01)
    assert answer.file_name.startswith("diagnostics-CP-1-") and len(answer.file_name) <= 255  # type: ignore[union-attr]
    asked_at = bench.now_s
    bench.run_for(60)
    (uploading, uploaded) = diagnostics_statuses(bench)
    assert uploading == (pytest.approx(asked_at, abs=0.1), "Uploading")
    assert uploaded[1] == "Uploaded" and 5 <= uploaded[0] - uploading[0] <= 30.1


def test_diagnostics_to_a_location_the_station_cannot_reach_fail() -> None:
    bench = booted(AC_1PHASE)
    csms_call(bench, GetDiagnosticsReq(location="sftp://diagnostics.example/upload"))
    bench.run_for(60)
    assert [s for _, s in diagnostics_statuses(bench)] == ["UploadFailed"]


def test_triggered_statuses_tell_what_runs_now() -> None:
    bench = booted(AC_1PHASE)

    def triggered(message: str, action: str) -> str:
        before = len(calls(bench, action))
        assert status_of(csms_call(bench, TriggerMessageReq(requested_message=message), wait_s=1)) == "Accepted"
        sent = calls(bench, action)
        assert len(sent) == before + 1
        return str(sent[-1][1].status)

    assert triggered("FirmwareStatusNotification", "FirmwareStatusNotification") == "Idle"
    assert triggered("DiagnosticsStatusNotification", "DiagnosticsStatusNotification") == "Idle"
    update(bench)
    bench.run_for(1)
    assert triggered("FirmwareStatusNotification", "FirmwareStatusNotification") == "Downloading"
    csms_call(bench, GetDiagnosticsReq(location="ftp://diagnostics.example/upload"), wait_s=0.01)
    assert triggered("DiagnosticsStatusNotification", "DiagnosticsStatusNotification") == "Uploading"
    bench.run_for(40)
    assert triggered("DiagnosticsStatusNotification", "DiagnosticsStatusNotification") == "Idle"


@pytest.mark.parametrize(
    "request_",
    [UpdateFirmwareReq(location=FTP, retrieve_date="2026-01-01T00:00:00Z"), GetDiagnosticsReq(location=FTP)],
    ids=lambda r: type(r).__name__,
)
def test_a_model_without_firmware_management_answers_not_supported(request_: object) -> None:
    bench = booted(CORE_ONLY)
    assert refused_with(bench, request_) == ErrorCode.NOT_SUPPORTED  # type: ignore[arg-type]


def test_a_model_without_firmware_management_does_not_trigger_its_notifications() -> None:
    bench = Bench(without(DC_ALL, FeatureProfile.FIRMWARE_MANAGEMENT))
    bench.connect()
    bench.run_for(30)
    for message in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
        answer = csms_call(bench, TriggerMessageReq(requested_message=message))
        assert status_of(answer) == "NotImplemented"  # §5.17
