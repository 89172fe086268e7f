"""Firmware Management (OCPP 1.6 §4.4, §4.5, §5.8 GetDiagnostics, §5.19
UpdateFirmware), and the file transfers the security whitepaper adds on the
same machinery (SignedUpdateFirmware, GetLog; see :mod:`.security`).

A firmware update moves through stages, each left when its time has come:

    Scheduled --retrieveDate--> Downloading --download time--> Downloaded
      --installDateTime, no transaction--> Installing --install time--> Rebooting
      --BootNotification accepted--> Installed

and reports each with FirmwareStatusNotification (SignedFirmwareStatusNotification
for a signed update, which also reports DownloadScheduled, SignatureVerified,
InstallScheduled and InstallRebooting).  As in the OCTT's TC_044, Installed
follows the reboot: the new firmware reports it once it runs.  Whether the
download may run during a transaction is the certificate's AQ-4; installing
always waits until no transaction is left, since it reboots the station.
A location whose scheme is not in SupportedFileTransferProtocols (ORS-16)
cannot be fetched: DownloadFailed (UploadFailed for uploads).

Durations are simulated seconds: 30-120 s to download, 30-60 s to install,
5-30 s to upload a diagnostics file or a log.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec

from fleetsim.ocpp.base import FeatureProfile, Payload
from fleetsim.ocpp.enums import DiagnosticsStatus, FirmwareStatus, MessageTrigger, Reason
from fleetsim.ocpp.payloads.firmware import (
    DiagnosticsStatusNotificationReq,
    FirmwareStatusNotificationReq,
    GetDiagnosticsConf,
    GetDiagnosticsReq,
    UpdateFirmwareConf,
    UpdateFirmwareReq,
)
from fleetsim.ocpp.payloads.security import (
    LogStatusNotificationReq,
    SignedFirmwareStatus,
    SignedFirmwareStatusNotificationReq,
    UploadLogStatus,
)
from fleetsim.station.outgoing import Outgoing

if TYPE_CHECKING:
    from fleetsim.station.ports import FirmwarePort
    from fleetsim.station.replies import Reply

KEY = "firmware"
INF = float("inf")
DOWNLOAD_S = (30.0, 120.0)
INSTALL_S = (30.0, 60.0)
UPLOAD_S = (5.0, 30.0)


class Stage(StrEnum):
    SCHEDULED = "Scheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    INSTALLING = "Installing"
    REBOOTING = "Rebooting"


class UploadKind(StrEnum):
    DIAGNOSTICS = "Diagnostics"  # GetDiagnostics: DiagnosticsStatusNotification
    LOG = "Log"  # the whitepaper's GetLog: LogStatusNotification


class Update(msgspec.Struct):
    location: str
    retrieve_s: float
    install_s: float  # installDateTime (signed updates), else -inf
    signed: bool
    request_id: int | None = None
    signature_valid: bool = True
    stage: Stage = Stage.SCHEDULED
    due_s: float = -INF  # when the stage's work is done
    last_status: SignedFirmwareStatus = SignedFirmwareStatus.IDLE
    install_noted: bool = False  # InstallScheduled sent


class Upload(msgspec.Struct):
    kind: UploadKind
    location: str
    request_id: int | None


class Transfers(msgspec.Struct):
    update: Update | None = None
    uploads: dict[UploadKind, Upload] = msgspec.field(default_factory=dict)


def _state(station: FirmwarePort) -> Transfers:
    state = station.features.get(KEY)
    if state is None:
        state = station.features[KEY] = Transfers()
    return state


def _busy(station: FirmwarePort) -> bool:
    return any(connector.transaction is not None for connector in station.connectors)


def _duration_s(station: FirmwarePort, bounds: tuple[float, float]) -> float:
    return station.sim_s(station.rng.uniform(*bounds))


def fetchable(station: FirmwarePort, location: str) -> bool:
    """ORS-16 SupportedFileTransferProtocols: the schemes the station speaks
    (any when the key is absent)."""
    protocols = {name.upper() for name in station.config.get_list("SupportedFileTransferProtocols")}
    scheme = location.partition(":")[0].upper()
    return not protocols or scheme in protocols


def file_stamp(station: FirmwarePort, now_s: float) -> str:
    return station.wall(now_s).strftime("%Y%m%dT%H%M%SZ")


# ------------------------------------------------------------------ firmware updates


_PLAIN = {  # the whitepaper's statuses as OCPP 1.6's FirmwareStatus (§7.25) tells them
    SignedFirmwareStatus.DOWNLOADING: FirmwareStatus.DOWNLOADING,
    SignedFirmwareStatus.DOWNLOADED: FirmwareStatus.DOWNLOADED,
    SignedFirmwareStatus.DOWNLOAD_FAILED: FirmwareStatus.DOWNLOAD_FAILED,
    SignedFirmwareStatus.INSTALLING: FirmwareStatus.INSTALLING,
    SignedFirmwareStatus.INSTALLED: FirmwareStatus.INSTALLED,
    SignedFirmwareStatus.INSTALLATION_FAILED: FirmwareStatus.INSTALLATION_FAILED,
    # Only signed updates pass through these; a TriggerMessage may still ask.
    SignedFirmwareStatus.SIGNATURE_VERIFIED: FirmwareStatus.DOWNLOADED,
    SignedFirmwareStatus.INSTALL_SCHEDULED: FirmwareStatus.DOWNLOADED,
    SignedFirmwareStatus.INSTALL_REBOOTING: FirmwareStatus.INSTALLING,
}


def start_update(station: FirmwarePort, update: Update, now_s: float) -> bool:
    """Begin ``update``; True when it replaces one in progress (which stops)."""
    state = _state(station)
    replaced = state.update is not None
    state.update = update
    if update.signed and update.retrieve_s > now_s:
        _notify(station, update, SignedFirmwareStatus.DOWNLOAD_SCHEDULED, now_s)
    _advance(station, update, now_s)
    return replaced


def _notify(station: FirmwarePort, update: Update, status: SignedFirmwareStatus, now_s: float) -> None:
    update.last_status = status
    payload: Payload
    if update.signed:
        payload = SignedFirmwareStatusNotificationReq(status=status, request_id=update.request_id)
        station.enqueue(Outgoing("SignedFirmwareStatusNotification", payload, now_s))
    elif status in _PLAIN:
        payload = FirmwareStatusNotificationReq(status=_PLAIN[status])
        station.enqueue(Outgoing("FirmwareStatusNotification", payload, now_s))


def _enter(station: FirmwarePort, update: Update, stage: Stage, now_s: float, duration_s: float = 0.0) -> None:
    update.stage = stage
    update.due_s = now_s + duration_s
    if duration_s > 0:
        _poke_at(station, update, update.due_s)


def _poke_at(station: FirmwarePort, update: Update, at_s: float) -> None:
    station.at(at_s, lambda now: _advance(station, update, now))


def _advance(station: FirmwarePort, update: Update, now_s: float) -> None:
    """Move the update on as far as it can go now; a stage waiting for time
    has a wake-up set, one waiting for transactions is resumed when they end."""
    state = station.features.get(KEY)
    while state is not None and state.update is update and now_s >= update.due_s:
        match update.stage:
            case Stage.SCHEDULED:
                if now_s < update.retrieve_s:
                    _poke_at(station, update, update.retrieve_s)
                    return
                if _busy(station) and not station.model.firmware_download_during_transaction:
                    return  # AQ-4: no download during a transaction
                if not fetchable(station, update.location):
                    _finish(station, update, SignedFirmwareStatus.DOWNLOAD_FAILED, now_s)
                    return
                _notify(station, update, SignedFirmwareStatus.DOWNLOADING, now_s)
                _enter(station, update, Stage.DOWNLOADING, now_s, _duration_s(station, DOWNLOAD_S))
            case Stage.DOWNLOADING:
                _notify(station, update, SignedFirmwareStatus.DOWNLOADED, now_s)
                if update.signed and not update.signature_valid:
                    _finish(station, update, SignedFirmwareStatus.INVALID_SIGNATURE, now_s)
                    return
                if update.signed:
                    _notify(station, update, SignedFirmwareStatus.SIGNATURE_VERIFIED, now_s)
                _enter(station, update, Stage.DOWNLOADED, now_s)
            case Stage.DOWNLOADED:
                if not _may_install(station, update, now_s):
                    return
                _notify(station, update, SignedFirmwareStatus.INSTALLING, now_s)
                _enter(station, update, Stage.INSTALLING, now_s, _duration_s(station, INSTALL_S))
            case Stage.INSTALLING:
                if update.signed:
                    _notify(station, update, SignedFirmwareStatus.INSTALL_REBOOTING, now_s)
                _enter(station, update, Stage.REBOOTING, now_s, INF)
                station.reboot(Reason.REBOOT, now_s)
            case Stage.REBOOTING:
                return


def _may_install(station: FirmwarePort, update: Update, now_s: float) -> bool:
    waiting = now_s < update.install_s or _busy(station)
    if waiting and update.signed and not update.install_noted:
        update.install_noted = True
        _notify(station, update, SignedFirmwareStatus.INSTALL_SCHEDULED, now_s)
    if now_s < update.install_s:
        _poke_at(station, update, update.install_s)
    return not waiting


def _finish(station: FirmwarePort, update: Update, status: SignedFirmwareStatus, now_s: float) -> None:
    station.stats.count(f"firmware.{status}")
    _notify(station, update, status, now_s)
    _state(station).update = None


def on_transaction_stopped(station: FirmwarePort, now_s: float) -> None:
    state = station.features.get(KEY)
    if state is not None and state.update is not None:
        _advance(station, state.update, now_s)


def on_boot_accepted(station: FirmwarePort, now_s: float) -> bool:
    """After the reboot of an update: the new firmware runs.  True if one was
    installed (the whitepaper's FirmwareUpdated security event)."""
    state = station.features.get(KEY)
    update = state.update if state is not None else None
    if update is None or update.stage != Stage.REBOOTING:
        return False
    _finish(station, update, SignedFirmwareStatus.INSTALLED, now_s)
    return True


def update_firmware(station: FirmwarePort, request: UpdateFirmwareReq, now_s: float) -> Reply:
    """§5.19: accepted in any case (the .conf has no status); the work starts
    at retrieveDate."""
    retrieve_s = station.timebase.engine_s(request.retrieve_date)
    start_update(station, Update(request.location, retrieve_s, -INF, signed=False), now_s)
    return UpdateFirmwareConf()


def firmware_status(station: FirmwarePort) -> SignedFirmwareStatus:
    """The status a triggered notification reports: Idle when no update runs (§4.5)."""
    state = station.features.get(KEY)
    return state.update.last_status if state is not None and state.update is not None else SignedFirmwareStatus.IDLE


# ------------------------------------------------------------------ uploads


def start_upload(station: FirmwarePort, upload: Upload, now_s: float) -> bool:
    """Upload a diagnostics file or a log; True when it replaces one of the
    same kind in progress (which stops reporting)."""
    state = _state(station)
    replaced = upload.kind in state.uploads
    state.uploads[upload.kind] = upload
    if not fetchable(station, upload.location):
        _end_upload(station, upload, False, now_s)
        return replaced
    _notify_upload(station, upload, True, now_s)
    station.at(now_s + _duration_s(station, UPLOAD_S), lambda now: _end_upload(station, upload, True, now))
    return replaced


def _end_upload(station: FirmwarePort, upload: Upload, ok: bool, now_s: float) -> None:
    state = _state(station)
    if state.uploads.get(upload.kind) is not upload:
        return  # replaced by a newer request
    del state.uploads[upload.kind]
    station.stats.count(f"upload.{upload.kind}.{'ok' if ok else 'failed'}")
    _notify_upload(station, upload, None if ok else False, now_s)


def _notify_upload(station: FirmwarePort, upload: Upload, progress: bool | None, now_s: float) -> None:
    """``progress``: True uploading, None uploaded, False failed."""
    if upload.kind == UploadKind.DIAGNOSTICS:
        status = {True: DiagnosticsStatus.UPLOADING, None: DiagnosticsStatus.UPLOADED,
                  False: DiagnosticsStatus.UPLOAD_FAILED}[progress]
        payload = DiagnosticsStatusNotificationReq(status=status)
        station.enqueue(Outgoing("DiagnosticsStatusNotification", payload, now_s))
    else:
        log_status = {True: UploadLogStatus.UPLOADING, None: UploadLogStatus.UPLOADED,
                      False: UploadLogStatus.UPLOAD_FAILURE}[progress]
        request = LogStatusNotificationReq(status=log_status, request_id=upload.request_id)
        station.enqueue(Outgoing("LogStatusNotification", request, now_s))


def uploading(station: FirmwarePort, kind: UploadKind) -> Upload | None:
    state = station.features.get(KEY)
    return state.uploads.get(kind) if state is not None else None


def get_diagnostics(station: FirmwarePort, request: GetDiagnosticsReq, now_s: float) -> Reply:
    """§5.8: the name of the file to be uploaded, then its upload reported by
    DiagnosticsStatusNotification (§4.4)."""
    file_name = f"diagnostics-{station.charge_point_id}-{file_stamp(station, now_s)}.tar.gz"
    start_upload(station, Upload(UploadKind.DIAGNOSTICS, request.location, None), now_s)
    return GetDiagnosticsConf(file_name=file_name[:255])


# ------------------------------------------------------------------ TriggerMessage


def can_trigger(station: FirmwarePort, requested: str) -> bool:
    return requested in _TRIGGERS and station.model.supports(FeatureProfile.FIRMWARE_MANAGEMENT)


def trigger(station: FirmwarePort, action: str, now_s: float) -> None:
    """§5.17: the current status, Idle when nothing runs (§4.4, §4.5)."""
    _TRIGGERS[action](station, now_s)


def _trigger_diagnostics(station: FirmwarePort, now_s: float) -> None:
    status = DiagnosticsStatus.UPLOADING if uploading(station, UploadKind.DIAGNOSTICS) else DiagnosticsStatus.IDLE
    payload = DiagnosticsStatusNotificationReq(status=status)
    station.queue.push_front(Outgoing("DiagnosticsStatusNotification", payload, now_s))


def _trigger_firmware(station: FirmwarePort, now_s: float) -> None:
    status = _PLAIN.get(firmware_status(station), FirmwareStatus.IDLE)
    payload = FirmwareStatusNotificationReq(status=status)
    station.queue.push_front(Outgoing("FirmwareStatusNotification", payload, now_s))


_TRIGGERS: dict[str, Callable[[FirmwarePort, float], None]] = {
    MessageTrigger.DIAGNOSTICS_STATUS_NOTIFICATION: _trigger_diagnostics,
    MessageTrigger.FIRMWARE_STATUS_NOTIFICATION: _trigger_firmware,
}

HANDLERS: dict[type, Callable[..., Any]] = {
    GetDiagnosticsReq: get_diagnostics,
    UpdateFirmwareReq: update_firmware,
}
