"""Older "Subset Certificates" list raw configuration keys instead of the
ID-coded rows.  This module turns those keys into the rows they stand for, so
the builders read both formats the same way.  A row the certificate already
has always wins over one derived here.

Key -> row, after CERTIFICATES.md:
  AllowOfflineTxForUnknownId / MaxEnergyOnInvalidId / AuthorizationCacheEnabled /
  MinimumStatusDuration: implemented (not "-") => C-02 / C-03 / C-04 / C-05 Yes
  (LocalAuthorizeOffline is required of every station: its value says whether
  offline authorization is on, not whether C-01 is supported, so no C-01 row)
  StopTransactionOnEVSideDisconnect true => C-06.2, false => C-06.1
  UnlockConnectorOnEVSideDisconnect true => C-10.1, false => C-10.2
  ReserveConnectorZeroSupported => R-1; ChargingScheduleAllowedChargingRateUnit => SC-1.1/SC-1.2
  MeterValuesSampledData / MeterValuesAlignedData => C-09.1 / C-09.2
  the ORS keys (GetConfigurationMaxKeys, ...) => ORS-1 ... ORS-19
  NumberOfConnectors => HFS-8
"""

from __future__ import annotations

from collections.abc import Callable

from fleetsim.profiles import rows as R
from fleetsim.profiles._scan import DeclaredKey, IdRow
from fleetsim.profiles._text import parse_bool

_PRESENCE_ROWS = {
    "AllowOfflineTxForUnknownId": "C-02",
    "MaxEnergyOnInvalidId": "C-03",
    "AuthorizationCacheEnabled": "C-04",
    "MinimumStatusDuration": "C-05",
}
# ORS-14's label is the misspelt "ChargingProfileMaxStackLevel"; the key is the spec's.
_LIMIT_KEYS = {row.label: row.row_id for row in R.LIMIT_ROWS} | {"ChargeProfileMaxStackLevel": "ORS-14"}
_LIMIT_KEYS["SupportedFileTransferProtocols"] = "ORS-16"


def rows_from_declared(declared: dict[str, DeclaredKey]) -> dict[str, IdRow]:
    """The rows a list of raw configuration keys stands for."""
    derived: dict[str, IdRow] = {}

    def put(row_id: str, key: str, *values: str) -> None:
        derived.setdefault(row_id, IdRow(row_id, key, values, declared[key].line))

    for key, row_id in _PRESENCE_ROWS.items():
        if key in declared:
            put(row_id, key, "No" if declared[key].value is None else "Yes")
    for key, row_id in _LIMIT_KEYS.items():
        if key in declared:
            put(row_id, key, declared[key].value or "-")
    _boolean_rows(declared, put)
    for key, row_id in (("MeterValuesSampledData", "C-09.1"), ("MeterValuesAlignedData", "C-09.2")):
        value = declared.get(key)
        if value is not None and value.value:
            # The certificate lists the configured value; it was both tested and declared.
            put(row_id, key, value.value, value.value)
    units = declared.get("ChargingScheduleAllowedChargingRateUnit")
    if units is not None and units.value:
        lowered = units.value.lower()
        put("SC-1.1", "ChargingScheduleAllowedChargingRateUnit", "Yes" if "current" in lowered else "No")
        put("SC-1.2", "ChargingScheduleAllowedChargingRateUnit", "Yes" if "power" in lowered else "No")
    connectors = declared.get("NumberOfConnectors")
    if connectors is not None and connectors.value:
        put("HFS-8", "NumberOfConnectors", connectors.value)
    return derived


def _boolean_rows(declared: dict[str, DeclaredKey], put: Callable[..., None]) -> None:
    stop = _bool(declared, "StopTransactionOnEVSideDisconnect")
    if stop is not None:
        put("C-06.2" if stop else "C-06.1", "StopTransactionOnEVSideDisconnect", "Yes")
    unlock = _bool(declared, "UnlockConnectorOnEVSideDisconnect")
    if unlock is not None:
        put("C-10.1" if unlock else "C-10.2", "UnlockConnectorOnEVSideDisconnect", "Yes")
    if "ReserveConnectorZeroSupported" in declared:
        zero = _bool(declared, "ReserveConnectorZeroSupported")
        put("R-1", "ReserveConnectorZeroSupported", "Yes" if zero else "No")


def _bool(declared: dict[str, DeclaredKey], key: str) -> bool | None:
    entry = declared.get(key)
    if entry is None or entry.value is None:
        return None
    return parse_bool(entry.value)
