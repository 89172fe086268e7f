"""A station model: what every station built from one certificate profile
shares (connectors, supported feature profiles, configuration definitions,
reaction-time distributions, declared timeouts).  Built once per profile;
stations hold a reference, never a copy."""

from __future__ import annotations

import random
from collections.abc import Callable

from fleetsim.ocpp.base import FeatureProfile
from fleetsim.station.config import ModelConfiguration
from fleetsim.station.power import ConnectorRating

# A reaction delay in seconds, drawn with the station's own random stream.
DelaySampler = Callable[[random.Random], float]


def no_delay(rng: random.Random) -> float:
    return 0.0


class StationModel:
    """Shared, read-only description of a station model."""

    __slots__ = (
        "configuration",
        "dc",
        "firmware_download_during_transaction",
        "firmware_version",
        "fixed_cable",
        "last_charge_point_certificate_removable",
        "last_root_certificate_removable",
        "model",
        "model_id",
        "ratings",
        "remote_start_delay",
        "remote_stop_delay",
        "reserve_connector_zero",
        "response_delay",
        "response_timeout_s",
        "security_profiles",
        "stop_transaction_before_power_down",
        "supported",
        "triggered_delay",
        "vendor",
    )

    def __init__(
        self,
        *,
        model_id: str,
        vendor: str,
        model: str,
        firmware_version: str | None,
        ratings: tuple[ConnectorRating, ...],
        fixed_cable: bool,
        supported: frozenset[FeatureProfile],
        security_profiles: frozenset[int],
        configuration: ModelConfiguration,
        response_timeout_s: float,
        response_delay: DelaySampler = no_delay,
        triggered_delay: DelaySampler = no_delay,
        remote_start_delay: DelaySampler = no_delay,
        remote_stop_delay: DelaySampler = no_delay,
        stop_transaction_before_power_down: bool = False,
        reserve_connector_zero: bool = False,
        firmware_download_during_transaction: bool = False,  # AQ-4
        last_root_certificate_removable: bool = False,  # AQ-1
        last_charge_point_certificate_removable: bool = False,  # AQ-3
    ) -> None:
        self.model_id = model_id
        self.vendor = vendor
        self.model = model
        self.firmware_version = firmware_version
        self.ratings = ratings
        self.fixed_cable = fixed_cable
        self.supported = supported
        self.security_profiles = security_profiles
        self.configuration = configuration
        self.response_timeout_s = response_timeout_s
        self.response_delay = response_delay
        self.triggered_delay = triggered_delay
        self.remote_start_delay = remote_start_delay
        self.remote_stop_delay = remote_stop_delay
        self.stop_transaction_before_power_down = stop_transaction_before_power_down
        self.reserve_connector_zero = reserve_connector_zero
        self.firmware_download_during_transaction = firmware_download_during_transaction
        self.last_root_certificate_removable = last_root_certificate_removable
        self.last_charge_point_certificate_removable = last_charge_point_certificate_removable
        self.dc = any(rating.dc for rating in ratings)

    def supports(self, profile: FeatureProfile) -> bool:
        return profile in self.supported
