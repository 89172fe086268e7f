"""The security whitepaper for OCPP 1.6-J, edition 3: certificates (A02/A03,
M03-M05), ExtendedTriggerMessage (F06), GetLog (N01), SignedUpdateFirmware
(L01) and security events (A04)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from feature_steps import (
    AC_1PHASE,
    AC_3PHASE,
    CORE_ONLY,
    DC_ALL,
    booted,
    calls,
    configure,
    csms_call,
    reboot,
    refused_with,
    status_of,
    variant,
)
from harness import Bench

from fleetsim.ocpp.errors import ErrorCode
from fleetsim.ocpp.payloads.core import ResetReq
from fleetsim.ocpp.payloads.security import (
    CertificateHashData,
    CertificateSignedReq,
    DeleteCertificateReq,
    ExtendedTriggerMessageReq,
    Firmware,
    GetInstalledCertificateIdsReq,
    GetLogReq,
    InstallCertificateReq,
    LogParameters,
    SignedUpdateFirmwareReq,
)
from fleetsim.station.features import security
from fleetsim.station.features.certificates import der_blocks, pem

CS_ROOT = "CentralSystemRootCertificate"
MF_ROOT = "ManufacturerRootCertificate"


def certificate(name: str) -> str:
    """A PEM block whose body is shaped as DER (one SEQUENCE of the right
    length), as far as a station checks; its content names it."""
    content = b"\x0c" + bytes([len(name) + 15]) + f"certificate of {name}".encode()
    return pem("CERTIFICATE", b"\x30" + bytes([len(content)]) + content)


def test_text_that_is_no_der_sequence_is_no_certificate() -> None:
    assert der_blocks(certificate("CP-1"))
    assert der_blocks(certificate("CP-1") + certificate("sub-CA")) and len(der_blocks(certificate("a") * 2)) == 2
    not_der = pem("CERTIFICATE", b"fleetsim: this is not an X.509 certificate")
    assert der_blocks(not_der) == []
    long_form = b"\x30\x81\x80" + bytes(128)
    assert der_blocks(pem("CERTIFICATE", long_form)) and not der_blocks(pem("CERTIFICATE", long_form + b"\x00"))


def secured(model_id: str = DC_ALL) -> Bench:
    """A booted station switched to security profile 1 (basic authentication)."""
    bench = booted(model_id)
    assert configure(bench, "SecurityProfile", "1") == "Accepted"
    return bench


def events(bench: Bench) -> list[str]:
    return [str(p.type) for _, p in calls(bench, "SecurityEventNotification")]  # type: ignore[attr-defined]


def installed(bench: Bench, kind: str) -> list[CertificateHashData]:
    answer = csms_call(bench, GetInstalledCertificateIdsReq(certificate_type=kind))
    if status_of(answer) == "NotFound":
        return []
    assert status_of(answer) == "Accepted"
    return list(answer.certificate_hash_data)  # type: ignore[union-attr]


# ---------------------------------------------------------------- security events (A04)


def test_a_station_at_security_profile_0_volunteers_no_security_events() -> None:
    bench = booted(DC_ALL)
    csms_call(bench, ResetReq(type="Soft"))
    reboot(bench)
    assert events(bench) == []
    logged = [e.event for e in security.security_log(bench.station)]
    assert logged == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"], "logged all the same"


def test_a_reset_is_reported_once_the_station_is_back() -> None:
    bench = secured()
    reset_at = bench.now_s
    csms_call(bench, ResetReq(type="Hard"))
    down_at = reboot(bench)
    sent = calls(bench, "SecurityEventNotification", reset_at)
    assert [str(p.type) for _, p in sent] == ["ResetOrReboot", "StartupOfTheDevice"]  # type: ignore[attr-defined]
    assert sent[0][1].tech_info == "HardReset"  # type: ignore[attr-defined]
    assert sent[0][1].timestamp < bench.timebase.wall(down_at), "stamped when it happened"  # type: ignore[attr-defined]
    assert all(at > calls(bench, "BootNotification")[-1][0] for at, _ in sent)


def test_raising_the_security_profile_is_logged_not_sent() -> None:
    bench = secured()
    logged = [(e.event, e.tech_info) for e in security.security_log(bench.station)]
    assert logged[-1] == ("ReconfigurationOfSecurityParameters", "SecurityProfile changed")
    assert events(bench) == [], "not a critical event"


# ---------------------------------------------------------------- certificates (A02/A03, M03-M05)


def test_sign_charge_point_certificate_sends_a_csr_then_takes_the_signed_certificate() -> None:
    bench = booted(AC_3PHASE)
    trigger = ExtendedTriggerMessageReq(requested_message="SignChargePointCertificate")
    assert status_of(csms_call(bench, trigger)) == "Accepted"
    ((_, request),) = calls(bench, "SignCertificate")
    csr = request.csr  # type: ignore[attr-defined]
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert csr.endswith("-----END CERTIFICATE REQUEST-----\n")
    body = "".join(csr.splitlines()[1:-1])
    assert b"CN=CP-1" in base64.b64decode(body)
    assert bench.station.stats.counters["security.sign_certificate.Accepted"] == 1

    before = list(security._state(bench.station).store)
    answer = csms_call(bench, CertificateSignedReq(certificate_chain=certificate("CP-1") + certificate("sub-CA")))
    assert status_of(answer) == "Accepted"
    after = security._state(bench.station).store
    assert len(after) == len(before) and after != before, "the Charge Point certificate was replaced"


def test_a_certificate_chain_that_is_too_long_or_invalid_is_rejected() -> None:
    bench = booted(AC_3PHASE)
    bench.station.config.set("CertificateSignedMaxChainSize", "50")  # ORS-17, as if certified so
    chain = certificate("CP-1")
    assert len(chain) > 50
    assert status_of(csms_call(bench, CertificateSignedReq(certificate_chain=chain))) == "Rejected"
    bench.station.config.set("CertificateSignedMaxChainSize", "10000")
    assert status_of(csms_call(bench, CertificateSignedReq(certificate_chain=chain))) == "Accepted"
    garbage = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
    assert status_of(csms_call(bench, CertificateSignedReq(certificate_chain=garbage))) == "Rejected"
    assert security.security_log(bench.station)[-1].event == "InvalidChargePointCertificate"


def test_root_certificates_are_installed_listed_and_deleted() -> None:
    bench = booted(DC_ALL)  # AQ-1: the last root cannot be removed
    (factory_root,) = installed(bench, CS_ROOT)
    assert len(installed(bench, MF_ROOT)) == 1

    new_root = InstallCertificateReq(certificate_type=CS_ROOT, certificate=certificate("new CSMS root"))
    assert status_of(csms_call(bench, new_root)) == "Accepted"
    assert status_of(csms_call(bench, new_root)) == "Accepted", "already installed: no duplicate"
    roots = installed(bench, CS_ROOT)
    assert len(roots) == 2 and factory_root in roots

    assert status_of(csms_call(bench, DeleteCertificateReq(certificate_hash_data=factory_root))) == "Accepted"
    assert status_of(csms_call(bench, DeleteCertificateReq(certificate_hash_data=factory_root))) == "NotFound"
    (last,) = installed(bench, CS_ROOT)
    assert status_of(csms_call(bench, DeleteCertificateReq(certificate_hash_data=last))) == "Failed"


def test_a_model_that_may_lose_its_last_root_deletes_it() -> None:
    bench = Bench(variant(DC_ALL, last_root_certificate_removable=True))
    bench.connect()
    bench.run_for(30)
    (root,) = installed(bench, CS_ROOT)
    assert status_of(csms_call(bench, DeleteCertificateReq(certificate_hash_data=root))) == "Accepted"
    assert installed(bench, CS_ROOT) == []


def test_the_charge_point_certificate_is_kept_when_the_certificate_says_so() -> None:
    bench = booted(DC_ALL)  # AQ-3: the last Charge Point certificate cannot be removed
    (own,) = [s.hash_data for s in security._state(bench.station).store if s.kind == "ChargePointCertificate"]
    assert status_of(csms_call(bench, DeleteCertificateReq(certificate_hash_data=own))) == "Failed"


def test_invalid_certificates_and_a_full_store_are_rejected() -> None:
    bench = booted(DC_ALL)  # ORS-18 CertificateStoreMaxLength 10; the factory installed 2 roots
    invalid = InstallCertificateReq(certificate_type=CS_ROOT, certificate="not a certificate")
    assert status_of(csms_call(bench, invalid)) == "Rejected"
    for n in range(8):
        request = InstallCertificateReq(certificate_type=MF_ROOT, certificate=certificate(f"root {n}"))
        assert status_of(csms_call(bench, request)) == "Accepted"
    one_more = InstallCertificateReq(certificate_type=CS_ROOT, certificate=certificate("root 8"))
    assert status_of(csms_call(bench, one_more)) == "Rejected"


# ---------------------------------------------------------------- ExtendedTriggerMessage (F06)


@pytest.mark.parametrize(
    ("requested", "action"),
    [
        ("Heartbeat", "Heartbeat"),
        ("StatusNotification", "StatusNotification"),
        ("BootNotification", "BootNotification"),
        ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
        ("LogStatusNotification", "LogStatusNotification"),
    ],
)
def test_extended_trigger_message_sends_what_is_asked(requested: str, action: str) -> None:
    bench = booted(AC_3PHASE)
    before = len(calls(bench, action))
    assert status_of(csms_call(bench, ExtendedTriggerMessageReq(requested_message=requested))) == "Accepted"
    assert len(calls(bench, action)) > before


def test_triggered_idle_statuses_carry_no_request_id() -> None:
    bench = booted(AC_3PHASE)
    csms_call(bench, ExtendedTriggerMessageReq(requested_message="FirmwareStatusNotification"))
    csms_call(bench, ExtendedTriggerMessageReq(requested_message="LogStatusNotification"))
    ((_, firmware),) = calls(bench, "SignedFirmwareStatusNotification")
    ((_, log),) = calls(bench, "LogStatusNotification")
    assert (firmware.status, firmware.request_id) == ("Idle", None)  # type: ignore[attr-defined]
    assert (log.status, log.request_id) == ("Idle", None)  # type: ignore[attr-defined]


def test_extended_trigger_message_for_an_unknown_connector_is_rejected() -> None:
    bench = booted(AC_3PHASE)
    request = ExtendedTriggerMessageReq(requested_message="StatusNotification", connector_id=3)
    assert status_of(csms_call(bench, request)) == "Rejected"


# ---------------------------------------------------------------- GetLog (N01)


def get_log(bench: Bench, request_id: int, location: str = "https://logs.example/upload") -> str:
    request = GetLogReq(log=LogParameters(remote_location=location), log_type="SecurityLog", request_id=request_id)
    answer = csms_call(bench, request, wait_s=0.01)
    assert answer.filename.startswith("SecurityLog-CP-1-")  # type: ignore[union-attr]
    return status_of(answer)


def log_statuses(bench: Bench) -> list[tuple[str, int | None]]:
    return [(str(p.status), p.request_id) for _, p in calls(bench, "LogStatusNotification")]  # type: ignore[attr-defined]


def test_get_log_uploads_and_reports_progress() -> None:
    bench = booted(AC_3PHASE)  # SupportedFileTransferProtocols FTP only
    assert get_log(bench, 7, "ftp://logs.example/upload") == "Accepted"
    bench.run_for(60)
    assert log_statuses(bench) == [("Uploading", 7), ("Uploaded", 7)]


def test_a_new_get_log_cancels_the_upload_in_progress() -> None:
    bench = booted(DC_ALL)  # FTP, HTTP, HTTPS
    assert get_log(bench, 1) == "Accepted"
    bench.run_for(1)
    assert get_log(bench, 2) == "AcceptedCanceled"
    bench.run_for(60)
    assert log_statuses(bench) == [("Uploading", 1), ("Uploading", 2), ("Uploaded", 2)]


def test_a_log_to_a_location_the_station_cannot_reach_fails() -> None:
    bench = booted(AC_3PHASE)
    assert get_log(bench, 3, "https://logs.example/upload") == "Accepted"
    bench.run_for(60)
    assert log_statuses(bench) == [("UploadFailure", 3)]


# ---------------------------------------------------------------- SignedUpdateFirmware (L01)


def signed_update(bench: Bench, request_id: int, *, retrieve_in_s: float = 0.0, install_in_s: float | None = None,
                  signing_certificate: str | None = None, signature: str = "c2lnbmF0dXJl") -> str:
    now = bench.timebase.wall(bench.now_s)
    image = Firmware(
        location="https://firmware.example/cp-2.0.bin", retrieve_date_time=now + timedelta(seconds=retrieve_in_s),
        install_date_time=None if install_in_s is None else now + timedelta(seconds=install_in_s),
        signing_certificate=signing_certificate or certificate("firmware signer"), signature=signature,
    )
    return status_of(csms_call(bench, SignedUpdateFirmwareReq(request_id=request_id, firmware=image), wait_s=0.01))


def firmware_statuses(bench: Bench) -> list[tuple[str, int | None]]:
    return [(str(p.status), p.request_id) for _, p in calls(bench, "SignedFirmwareStatusNotification")]  # type: ignore[attr-defined]


def test_a_signed_update_is_verified_installed_and_reported_with_its_request_id() -> None:
    bench = secured()
    assert signed_update(bench, 11, retrieve_in_s=60) == "Accepted"
    reboot(bench)
    assert firmware_statuses(bench) == [
        (status, 11) for status in ("DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified",
                                    "Installing", "InstallRebooting", "Installed")
    ]
    assert events(bench) == ["ResetOrReboot", "StartupOfTheDevice", "FirmwareUpdated"]
    assert calls(bench, "FirmwareStatusNotification") == [], "signed updates report with the whitepaper's message"


def test_a_signed_update_waits_for_its_install_date() -> None:
    bench = booted(DC_ALL)
    signed_update(bench, 12, install_in_s=600)
    bench.run_for(300)
    assert [s for s, _ in firmware_statuses(bench)][-2:] == ["SignatureVerified", "InstallScheduled"]
    installing_at = bench.now_s + 300
    reboot(bench, within_s=700)
    at = [t for t, p in calls(bench, "SignedFirmwareStatusNotification") if p.status == "Installing"]  # type: ignore[attr-defined]
    assert at == [pytest.approx(installing_at, abs=1)]


def test_a_bad_signing_certificate_or_signature_stops_the_update() -> None:
    bench = booted(DC_ALL)
    assert signed_update(bench, 13, signing_certificate="no certificate") == "InvalidCertificate"
    assert signed_update(bench, 14, signature="not base64!") == "Accepted"
    bench.run_for(200)
    assert [s for s, _ in firmware_statuses(bench)] == ["Downloading", "Downloaded", "InvalidSignature"]
    logged = [e.event for e in security.security_log(bench.station)]
    assert logged[-2:] == ["InvalidFirmwareSigningCertificate", "InvalidFirmwareSignature"]
    assert not bench.station.want_disconnect


def test_a_new_signed_update_cancels_the_one_in_progress() -> None:
    bench = booted(DC_ALL)
    assert signed_update(bench, 15) == "Accepted"
    bench.run_for(5)
    assert signed_update(bench, 16) == "AcceptedCanceled"
    reboot(bench)
    assert firmware_statuses(bench)[0] == ("Downloading", 15)
    assert {request_id for _, request_id in firmware_statuses(bench)[1:]} == {16}


# ---------------------------------------------------------------- models without the whitepaper


@pytest.mark.parametrize("model_id", [CORE_ONLY, AC_1PHASE])
@pytest.mark.parametrize(
    "request_",
    [
        ExtendedTriggerMessageReq(requested_message="Heartbeat"),
        CertificateSignedReq(certificate_chain="x"),
        GetInstalledCertificateIdsReq(certificate_type=CS_ROOT),
        GetLogReq(log=LogParameters(remote_location="ftp://x"), log_type="DiagnosticsLog", request_id=1),
    ],
    ids=lambda r: type(r).__name__,
)
def test_a_model_without_the_whitepaper_does_not_know_its_calls(model_id: str, request_: object) -> None:
    bench = booted(model_id)
    assert refused_with(bench, request_) == ErrorCode.NOT_IMPLEMENTED  # type: ignore[arg-type]
