"""The enumerations of OCPP 1.6 §7, values spelled as on the wire (and in the
official JSON schemas), members in the order the schemas list them."""

from __future__ import annotations

from enum import StrEnum


class AuthorizationStatus(StrEnum):
    """OCPP 1.6 §7.2: the verdict on an idTag."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class AvailabilityStatus(StrEnum):
    """OCPP 1.6 §7.3: answer to ChangeAvailability.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"


class AvailabilityType(StrEnum):
    """OCPP 1.6 §7.4: availability requested by ChangeAvailability.req."""

    INOPERATIVE = "Inoperative"
    OPERATIVE = "Operative"


class CancelReservationStatus(StrEnum):
    """OCPP 1.6 §7.5."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ChargePointErrorCode(StrEnum):
    """OCPP 1.6 §7.6: the errorCode of StatusNotification.req."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    LOCAL_LIST_CONFLICT = "LocalListConflict"
    NO_ERROR = "NoError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"
    READER_FAILURE = "ReaderFailure"
    RESET_FAILURE = "ResetFailure"
    UNDER_VOLTAGE = "UnderVoltage"
    OVER_VOLTAGE = "OverVoltage"
    WEAK_SIGNAL = "WeakSignal"


class ChargePointStatus(StrEnum):
    """OCPP 1.6 §7.7: the status of a connector (or of the Charge Point, connector 0)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class ChargingProfileKindType(StrEnum):
    """OCPP 1.6 §7.9."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class ChargingProfilePurposeType(StrEnum):
    """OCPP 1.6 §7.10."""

    CHARGE_POINT_MAX_PROFILE = "ChargePointMaxProfile"
    TX_DEFAULT_PROFILE = "TxDefaultProfile"
    TX_PROFILE = "TxProfile"


class ChargingProfileStatus(StrEnum):
    """OCPP 1.6 §7.11: answer to SetChargingProfile.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"


class ChargingRateUnitType(StrEnum):
    """OCPP 1.6 §7.12: amperes or watts."""

    A = "A"
    W = "W"


class ClearCacheStatus(StrEnum):
    """OCPP 1.6 §7.20."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ClearChargingProfileStatus(StrEnum):
    """OCPP 1.6 §7.21."""

    ACCEPTED = "Accepted"
    UNKNOWN = "Unknown"


class ConfigurationStatus(StrEnum):
    """OCPP 1.6 §7.22: answer to ChangeConfiguration.req."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


class DataTransferStatus(StrEnum):
    """OCPP 1.6 §7.23."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


class DiagnosticsStatus(StrEnum):
    """OCPP 1.6 §7.24."""

    IDLE = "Idle"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"
    UPLOADING = "Uploading"


class FirmwareStatus(StrEnum):
    """OCPP 1.6 §7.25."""

    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOADING = "Downloading"
    IDLE = "Idle"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"


class GetCompositeScheduleStatus(StrEnum):
    """OCPP 1.6 §7.26."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class Location(StrEnum):
    """OCPP 1.6 §7.30: where a sampled value was measured."""

    CABLE = "Cable"
    EV = "EV"
    INLET = "Inlet"
    OUTLET = "Outlet"
    BODY = "Body"


class Measurand(StrEnum):
    """OCPP 1.6 §7.31."""

    ENERGY_ACTIVE_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = "Energy.Reactive.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = "Energy.Reactive.Import.Register"
    ENERGY_ACTIVE_EXPORT_INTERVAL = "Energy.Active.Export.Interval"
    ENERGY_ACTIVE_IMPORT_INTERVAL = "Energy.Active.Import.Interval"
    ENERGY_REACTIVE_EXPORT_INTERVAL = "Energy.Reactive.Export.Interval"
    ENERGY_REACTIVE_IMPORT_INTERVAL = "Energy.Reactive.Import.Interval"
    POWER_ACTIVE_EXPORT = "Power.Active.Export"
    POWER_ACTIVE_IMPORT = "Power.Active.Import"
    POWER_OFFERED = "Power.Offered"
    POWER_REACTIVE_EXPORT = "Power.Reactive.Export"
    POWER_REACTIVE_IMPORT = "Power.Reactive.Import"
    POWER_FACTOR = "Power.Factor"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_EXPORT = "Current.Export"
    CURRENT_OFFERED = "Current.Offered"
    VOLTAGE = "Voltage"
    FREQUENCY = "Frequency"
    TEMPERATURE = "Temperature"
    SOC = "SoC"
    RPM = "RPM"


class MessageTrigger(StrEnum):
    """OCPP 1.6 §7.32: the messages TriggerMessage.req may ask for."""

    BOOT_NOTIFICATION = "BootNotification"
    DIAGNOSTICS_STATUS_NOTIFICATION = "DiagnosticsStatusNotification"
    FIRMWARE_STATUS_NOTIFICATION = "FirmwareStatusNotification"
    HEARTBEAT = "Heartbeat"
    METER_VALUES = "MeterValues"
    STATUS_NOTIFICATION = "StatusNotification"


class Phase(StrEnum):
    """OCPP 1.6 §7.34."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    N = "N"
    L1_N = "L1-N"
    L2_N = "L2-N"
    L3_N = "L3-N"
    L1_L2 = "L1-L2"
    L2_L3 = "L2-L3"
    L3_L1 = "L3-L1"


class ReadingContext(StrEnum):
    """OCPP 1.6 §7.35."""

    INTERRUPTION_BEGIN = "Interruption.Begin"
    INTERRUPTION_END = "Interruption.End"
    SAMPLE_CLOCK = "Sample.Clock"
    SAMPLE_PERIODIC = "Sample.Periodic"
    TRANSACTION_BEGIN = "Transaction.Begin"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"
    OTHER = "Other"


class Reason(StrEnum):
    """OCPP 1.6 §7.36: why a transaction stopped."""

    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DE_AUTHORIZED = "DeAuthorized"


class RecurrencyKindType(StrEnum):
    """OCPP 1.6 §7.37."""

    DAILY = "Daily"
    WEEKLY = "Weekly"


class RegistrationStatus(StrEnum):
    """OCPP 1.6 §7.38: answer to BootNotification.req."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class RemoteStartStopStatus(StrEnum):
    """OCPP 1.6 §7.39."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ReservationStatus(StrEnum):
    """OCPP 1.6 §7.40: answer to ReserveNow.req."""

    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"


class ResetStatus(StrEnum):
    """OCPP 1.6 §7.41."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ResetType(StrEnum):
    """OCPP 1.6 §7.42."""

    HARD = "Hard"
    SOFT = "Soft"


class TriggerMessageStatus(StrEnum):
    """OCPP 1.6 §7.44."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_IMPLEMENTED = "NotImplemented"


class UnitOfMeasure(StrEnum):
    """OCPP 1.6 §7.45."""

    WH = "Wh"
    KWH = "kWh"
    VARH = "varh"
    KVARH = "kvarh"
    W = "W"
    KW = "kW"
    VA = "VA"
    KVA = "kVA"
    VAR = "var"
    KVAR = "kvar"
    A = "A"
    V = "V"
    K = "K"
    # The original 1.6 JSON schemas misspell Celsius; OCA advises accepting both
    # spellings (the schemas we check against list both).  We emit CELSIUS, the
    # spelling of the spec's text.
    CELCIUS = "Celcius"
    CELSIUS = "Celsius"
    FAHRENHEIT = "Fahrenheit"
    PERCENT = "Percent"
    # Errata sheet v4.0 on §7.45: the unit of Measurand Frequency.  Of the schemas
    # we check against, only MeterValues lists it (see datatypes.TransactionData).
    HERTZ = "Hertz"


class UnlockStatus(StrEnum):
    """OCPP 1.6 §7.46."""

    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    NOT_SUPPORTED = "NotSupported"


class UpdateStatus(StrEnum):
    """OCPP 1.6 §7.47: answer to SendLocalList.req."""

    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class UpdateType(StrEnum):
    """OCPP 1.6 §7.48."""

    DIFFERENTIAL = "Differential"
    FULL = "Full"


class ValueFormat(StrEnum):
    """OCPP 1.6 §7.49: whether a sampled value is a plain number or signed data."""

    RAW = "Raw"
    SIGNED_DATA = "SignedData"
