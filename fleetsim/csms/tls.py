"""The CSMS's side of TLS: security profiles 2 and 3 of the OCPP 1.6 security
whitepaper (§2).  The handshake runs on the plain non-blocking socket the
accept loop hands over, driven by trio's readiness API like the client's in
:mod:`fleetsim.engine.link`, so the connection then goes through the same
:class:`~fleetsim.engine.link.Link`.
"""

from __future__ import annotations

import socket
import ssl

from fleetsim.csms.config import TlsFiles
from fleetsim.engine.link import tls_handshake


def server_context(tls: TlsFiles) -> ssl.SSLContext:
    """The server's TLS context.  Raises ``ValueError``, naming the file, when
    one is missing, unreadable or does not hold what it should."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Security whitepaper §2, profiles 2 and 3: TLS 1.2 or above.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A renegotiation would make a send wait for readable and a receive for
    # writable; a Link's reader and flusher each own one direction of the
    # socket (trio lets one task wait per direction), so refuse it.  TLS 1.3
    # has none anyway (RFC 8446 §4.1.2 dropped it).
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except ssl.SSLError as error:  # OpenSSL says only "PEM lib" or the like
        raise ValueError(
            f"{tls.cert_file}: no certificate chain with its private key (the key in the same file or in the "
            f"key file, and matching the certificate): {error.reason or error}"
        ) from None
    except OSError as error:
        raise ValueError(f"{' or '.join(filter(None, (tls.cert_file, tls.key_file)))}: {error.strerror}") from None
    if tls.client_ca_file is not None:
        # Profile 3: a station without a certificate from this CA fails the
        # handshake (RFC 8446 §4.4.2.4: "certificate_required").
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as error:
            raise ValueError(f"{tls.client_ca_file}: no CA certificate: {error.reason or error}") from None
        except OSError as error:
            raise ValueError(f"{tls.client_ca_file}: {error.strerror}") from None
    return context


async def accept_tls(sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket | str:
    """Run the server side of the TLS handshake on ``sock``: the TLS socket, or
    why the handshake failed (an OpenSSL reason such as
    ``PEER_DID_NOT_RETURN_A_CERTIFICATE``), the socket then closed.

    ``wrap_socket`` detaches ``sock``; from here on the TLS socket owns the
    file descriptor, and it is closed here unless it is returned.  The caller
    owns the timeout."""
    wrapped = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    try:
        await tls_handshake(wrapped)
        return wrapped
    except ssl.SSLError as error:
        wrapped.close()
        return error.reason or type(error).__name__
    except OSError:  # reset or gone before the handshake finished
        wrapped.close()
        return "connection lost"
    except BaseException:  # cancelled: the timeout
        wrapped.close()
        raise
