"""Scenario errors that say where: the file, the field path as users write it
(``groups[1].sessions.segment``), the line for TOML syntax, and what was
expected."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from fleetsim.scenario.schema import Scenario


class ScenarioError(ValueError):
    """A scenario file that cannot be used, and why."""

    def __init__(self, file: str, message: str, *, field: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.line = line
        self.message = message
        where = file + (f", line {line}" if line is not None else "") + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}")


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.DOTALL)
_SEGMENT = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


def from_validation(file: str, error: msgspec.ValidationError) -> ScenarioError:
    """msgspec's message with its ``$.a.b[1]`` path turned into the file's field
    path, and, for an enum or a tag, the values that would do."""
    match = _AT.match(str(error))
    assert match is not None  # the pattern matches any text
    message, path = match["message"], match["path"] or ""
    if (unknown := _UNKNOWN.match(message)) is not None:
        allowed = _field_names(_info_at(path))
        hint = f" (fields here: {', '.join(allowed)})" if allowed else ""
        return ScenarioError(file, f"unknown field{hint}", field=_join(path, unknown["name"]))
    if (missing := _MISSING.match(message)) is not None:
        return ScenarioError(file, "required field missing", field=_join(path, missing["name"]))
    if message.startswith(("Invalid enum value", "Invalid value")):
        choices = _choices(_info_at(path), path)
        if choices:
            message += f"; expected one of: {', '.join(choices)}"
    if message.startswith(("Expected", "Invalid")):  # msgspec's own wording, mid-sentence here
        message = message[:1].lower() + message[1:]
    return ScenarioError(file, message, field=path or None)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _info_at(path: str) -> Any:
    """The msgspec type info of the value at ``path`` (None if lost)."""
    info: Any = msgspec.inspect.type_info(Scenario)
    for name, index in _SEGMENT.findall(path):
        info = _unwrap(info, name)
        if info is None:
            return None
        if index:
            info = getattr(info, "item_type", None)
        else:
            info = next((f.type for f in _struct_fields(info) if f.encode_name == name), None)
    return _unwrap(info, None)


def _unwrap(info: Any, name: str | None) -> Any:
    """Through Optional and unions to the struct that has ``name``."""
    if isinstance(info, msgspec.inspect.UnionType):
        members = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if name is not None:
            members = [t for t in members if any(f.encode_name == name for f in _struct_fields(t))] or members
        return members[0] if len(members) == 1 else info
    return info


def _struct_fields(info: Any) -> tuple[Any, ...]:
    return info.fields if isinstance(info, msgspec.inspect.StructType) else ()


def _field_names(info: Any) -> list[str]:
    return [f.encode_name for f in _struct_fields(info)]


def _choices(info: Any, path: str) -> list[str]:
    if isinstance(info, msgspec.inspect.EnumType):
        return [str(member.value) for member in info.cls]
    if isinstance(info, msgspec.inspect.LiteralType):
        return [str(value) for value in info.values]
    if isinstance(info, msgspec.inspect.UnionType) or path.endswith(".model"):
        # A tagged union (the sessions' ``model``): the tags of its members.
        parent = _info_at(path.rpartition(".")[0]) if path.endswith(".model") else info
        members = parent.types if isinstance(parent, msgspec.inspect.UnionType) else ()
        return [str(t.tag) for t in members if isinstance(t, msgspec.inspect.StructType) and t.tag is not None]
    return []
