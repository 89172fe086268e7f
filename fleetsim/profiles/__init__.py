"""Station profiles: what an OCA certificate says about a station model.

* :class:`StationProfile` and its parts (:mod:`fleetsim.profiles.profile`);
* :func:`parse_certificate` reads certificate text (:mod:`fleetsim.profiles.certificate`);
* :func:`build_configuration` gives the model's OCPP configuration keys;
* :class:`ReactionTime` draws reaction delays matching the lab measurements;
* :func:`load_builtin` / :func:`get_profile` / :func:`load_profile_file`.

Pure: no IO besides reading profile files, no clock, no printing.
"""

from fleetsim.profiles.builtin import (
    ProfileError,
    decode_profile,
    encode_profile,
    get_profile,
    load_builtin,
    load_profile_file,
)
from fleetsim.profiles.certificate import CertificateError, ParsedCertificate, ParseWarning, parse_certificate
from fleetsim.profiles.configuration import ChangeVerdict, ConfigurationKey, StationConfiguration, build_configuration
from fleetsim.profiles.profile import Measured, StationProfile, Timing
from fleetsim.profiles.reaction import ReactionTime

__all__ = [
    "CertificateError",
    "ChangeVerdict",
    "ConfigurationKey",
    "Measured",
    "ParseWarning",
    "ParsedCertificate",
    "ProfileError",
    "ReactionTime",
    "StationConfiguration",
    "StationProfile",
    "Timing",
    "build_configuration",
    "decode_profile",
    "encode_profile",
    "get_profile",
    "load_builtin",
    "load_profile_file",
    "parse_certificate",
]
