"""Where a fleet's stations connect: the CSMS URL, checked.

A msgspec Struct apart from :mod:`fleetsim.engine.link`, which may be
compiled (a Struct compiled with it would lose ``frozen=True``);
``link.Target`` is the same class.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec


class Target(msgspec.Struct, frozen=True):
    """Where stations connect: ``ws[s]://host:port/path``; each station appends
    ``/<chargePointId>`` (OCPP-J 1.6 §3.1.1)."""

    host: str
    port: int
    path: str
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if "@" in parts.netloc:  # checked first: the messages below quote the URL
            raise ValueError("the CSMS URL carries a user or password: each station authenticates as its charge "
                             "point id (security profiles 1-2), with the password from --password-env "
                             "(a scenario's password_env or password_file), never from the URL")
        if parts.query or parts.fragment:  # checked before quoting the URL too: a query may hold a token
            raise ValueError("the CSMS URL has a query or fragment: stations connect to <csms-url>/<chargePointId> "
                             "(OCPP-J 1.6 §3.1.1), so give the URL up to its path only")
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"CSMS URL must start with ws:// or wss://, not {url!r}")
        if not parts.hostname:
            raise ValueError(f"CSMS URL has no host: {url!r}")
        tls = parts.scheme == "wss"
        try:
            port = parts.port if parts.port is not None else (443 if tls else 80)
        except ValueError as error:
            raise ValueError(f"CSMS URL has a bad port: {url!r}") from error
        if port == 0:  # no server listens on port 0: every connection would fail
            raise ValueError(f"CSMS URL has port 0: {url!r}")
        return cls(parts.hostname, port, parts.path.rstrip("/"), tls)

    def path_for(self, charge_point_id: str) -> str:
        return f"{self.path}/{charge_point_id}"

    def host_header(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"
