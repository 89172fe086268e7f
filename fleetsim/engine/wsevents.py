"""What :mod:`fleetsim.engine.framing` reads off a WebSocket connection (its
events) and off an HTTP upgrade (the head, the request): msgspec Structs.

They live apart from the framing code, which may be compiled (see the
README's "A compiled build"): a class compiled with it would lose its Struct
options (``gc=False``, ``frozen=True``).  framing re-exports them, so
``framing.Message`` and the like are the names to use.
"""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct, gc=False):
    data: bytes
    binary: bool = False  # opcode 0x2; text (0x1, checked to be UTF-8) otherwise


class Ping(msgspec.Struct, gc=False):
    data: bytes


class Pong(msgspec.Struct, gc=False):
    data: bytes


class Close(msgspec.Struct, gc=False):
    code: int
    reason: str


class Violation(msgspec.Struct, gc=False):
    """The peer broke RFC 6455 (or a cap of ours); answer with a close frame of ``code``."""

    code: int
    reason: str


Event = Message | Ping | Pong | Close | Violation


class HttpHead(msgspec.Struct):
    """The start line and headers of an HTTP/1.1 request or response."""

    start_line: str
    headers: dict[str, str]  # names in lower case


class UpgradeRequest(msgspec.Struct, frozen=True):
    """A client's acceptable WebSocket upgrade, as a server reads it."""

    path: str
    key: bytes
    subprotocols: tuple[str, ...]
    authorization: str | None
