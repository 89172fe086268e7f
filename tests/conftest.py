"""Certificates for the security profile 2 and 3 tests (OCPP 1.6 security
whitepaper §2), made once per session with trustme: a CA, the CSMS's
certificate for 127.0.0.1 and localhost, a station's client certificate, and a
CSMS certificate from a CA nobody trusts."""

from __future__ import annotations

import ssl
from pathlib import Path

import msgspec
import pytest
import trustme


class Pki(msgspec.Struct, frozen=True):
    """PEM files on disk, as the CLI and CsmsConfig take them."""

    ca_file: Path  # what stations verify the CSMS against, and the CSMS its stations (profile 3)
    server_cert: Path  # 127.0.0.1 and localhost, issued under ca_file
    server_key: Path
    client_cert: Path  # station CP1 (CN = its charge point id, as the whitepaper asks)
    client_key: Path
    stranger_cert: Path  # 127.0.0.1, issued under another CA
    stranger_key: Path
    stranger_ca_file: Path

    def client_context(self, *, certificate: bool = False, ca_file: Path | None = None) -> ssl.SSLContext:
        """A station's context, built as ``fleetsim run --ca-file`` builds it."""
        context = ssl.create_default_context(cafile=str(ca_file or self.ca_file))
        if certificate:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def _write_issued(issued: trustme.LeafCert, folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    for pem in issued.cert_chain_pems:
        pem.write_to_path(str(cert), append=True)
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    stranger_ca.cert_pem.write_to_path(str(folder / "stranger-ca.pem"))
    server = _write_issued(ca.issue_cert("127.0.0.1", "localhost"), folder, "server")
    client = _write_issued(ca.issue_cert("CP1", common_name="CP1"), folder, "client")
    stranger = _write_issued(stranger_ca.issue_cert("127.0.0.1", "localhost"), folder, "stranger")
    return Pki(folder / "ca.pem", *server, *client, *stranger, folder / "stranger-ca.pem")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that patches the hot path observes nothing in a compiled build
    (its modules call each other directly, past the patch): it runs against
    the plain build, which `make test` is."""
    from fleetsim import build

    if build.kind() == "plain":
        return
    skip = pytest.mark.skip(reason="patches the hot path, which this build compiled: runs in the plain build")
    for item in items:
        if item.get_closest_marker("patches_hot_path"):
            item.add_marker(skip)
