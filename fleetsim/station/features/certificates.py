"""The certificates a station holds (security whitepaper for OCPP 1.6-J,
edition 3, §2.6 and use cases A02, M03-M05): its Central System and
Manufacturer root certificates and its own Charge Point certificate.

The station does not parse X.509 (the core carries no ASN.1 parser, and the
CSMS is what is under test): a certificate is a PEM block, and its
CertificateHashData is derived from the block's DER bytes, so the same
certificate always has the same identity and different ones differ.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import textwrap
from enum import StrEnum

import msgspec

from fleetsim.ocpp.payloads.security import CertificateHashData, HashAlgorithm

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.DOTALL)


class CertificateKind(StrEnum):
    """The two root kinds of the whitepaper's CertificateUseEnumType, and the
    Charge Point's own certificate (installed by CertificateSigned.req)."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    CHARGE_POINT = "ChargePointCertificate"


ROOTS = (CertificateKind.CENTRAL_SYSTEM_ROOT, CertificateKind.MANUFACTURER_ROOT)


class Stored(msgspec.Struct, frozen=True):
    kind: CertificateKind
    hash_data: CertificateHashData


def der_blocks(pem: str) -> list[bytes]:
    """The DER bytes of every well-formed certificate block of a PEM text."""
    blocks = []
    for body in _PEM_BLOCK.findall(pem):
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return []
        if not _is_der_sequence(der):
            return []
        blocks.append(der)
    return blocks


def _is_der_sequence(der: bytes) -> bool:
    """An X.509 certificate is one DER SEQUENCE (tag 0x30) whose length covers
    the block exactly: as far as a station checks without an ASN.1 parser, and
    enough to refuse text that merely looks like base64 (whitepaper A02/M05)."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = der[1]
    if first < 0x80:
        return 2 + first == len(der)
    size = first & 0x7F
    if size == 0 or size > 4 or len(der) < 2 + size:
        return False
    return 2 + size + int.from_bytes(der[2:2 + size], "big") == len(der)


def hash_data(der: bytes) -> CertificateHashData:
    """A stand-in for RFC 6960's issuerNameHash, issuerKeyHash and serial
    number: SHA-256 digests of the certificate's bytes."""
    return CertificateHashData(
        hash_algorithm=HashAlgorithm.SHA256,
        issuer_name_hash=hashlib.sha256(b"issuer-name:" + der).hexdigest(),
        issuer_key_hash=hashlib.sha256(b"issuer-key:" + der).hexdigest(),
        serial_number=hashlib.sha256(der).hexdigest()[:20],
    )


def same(a: CertificateHashData, b: CertificateHashData) -> bool:
    return (
        a.hash_algorithm == b.hash_algorithm
        and a.issuer_name_hash.lower() == b.issuer_name_hash.lower()
        and a.issuer_key_hash.lower() == b.issuer_key_hash.lower()
        and a.serial_number.lower().lstrip("0") == b.serial_number.lower().lstrip("0")
    )


def pem(label: str, der: bytes) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def factory_store(charge_point_id: str, vendor: str) -> list[Stored]:
    """What a station leaves the factory with: one root of each kind and its
    own certificate (the one security profile 3 connects with)."""
    return [
        Stored(CertificateKind.CENTRAL_SYSTEM_ROOT, hash_data(b"fleetsim CSMS root CA")),
        Stored(CertificateKind.MANUFACTURER_ROOT, hash_data(f"{vendor} manufacturer root CA".encode())),
        Stored(CertificateKind.CHARGE_POINT, hash_data(f"charge point {charge_point_id}".encode())),
    ]


def csr(charge_point_id: str, organization: str) -> str:
    """A PEM certificate signing request (whitepaper A02/A03: CN the Charge
    Point's id, O its CpoName); its body stands in for a signed PKCS#10."""
    subject = f"CN={charge_point_id},O={organization}".encode()
    der = b"0\x82" + len(subject).to_bytes(2, "big") + subject + hashlib.sha256(subject).digest()
    return pem("CERTIFICATE REQUEST", der)
