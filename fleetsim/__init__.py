"""fleetsim: a load simulator for OCPP 1.6-J charging-station fleets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
