"""The socket API's one codec: typed values (frozen dataclasses of plain fields) to the JSON a
frame carries, and back, checked field by field against the declared types.

A value that does not fit is refused with an ApiError that names the field (`programme`,
`params.span_mmhg`, `result.status.sensor.port`), never a KeyError deep in a handler: a client
can put the message beside the right input, as Klipper's WebRequest.get_str does for its
arguments. Only what the dataclasses declare is understood: an unknown field is refused with a
"did you mean", as Mopidy's config schema does.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


class ErrorCode(enum.StrEnum):
    """Every way the daemon refuses a request (MEANINGS says each one's, for docs/api.md)."""

    BAD_FRAME = "bad_frame"
    FRAME_TOO_LONG = "frame_too_long"
    BAD_REQUEST = "bad_request"
    VERSION = "version"
    UNKNOWN_METHOD = "unknown_method"
    UNKNOWN_ARGUMENT = "unknown_argument"
    MISSING_ARGUMENT = "missing_argument"
    BAD_ARGUMENT = "bad_argument"
    UNKNOWN_PROTOCOL = "unknown_protocol"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    BUSY = "busy"
    CALIBRATING = "calibrating"
    DISK_FULL = "disk_full"
    STARTING = "starting"
    NO_SENSOR = "no_sensor"
    NO_SESSION = "no_session"
    CANNOT_PAUSE = "cannot_pause"
    NOT_PAUSED = "not_paused"
    INTERNAL = "internal"

    @classmethod
    def of(cls, text: object) -> ErrorCode:
        try:
            return cls(text)
        except ValueError:
            return cls.INTERNAL


MEANINGS = {
    ErrorCode.BAD_FRAME: "not one JSON object on one line (the connection goes on)",
    ErrorCode.FRAME_TOO_LONG: "a frame over 64 KiB; the connection is then closed",
    ErrorCode.BAD_REQUEST: "an `id`, `method` or `params` of the wrong kind",
    ErrorCode.VERSION: "the client says another `api_version` in `hello`: update RugCoach",
    ErrorCode.UNKNOWN_METHOD: "with \"did you mean ...?\"",
    ErrorCode.UNKNOWN_ARGUMENT: "an argument the method does not have, with \"did you mean ...?\"",
    ErrorCode.MISSING_ARGUMENT: "a required argument left out",
    ErrorCode.BAD_ARGUMENT: "an argument of the wrong type, or out of its range",
    ErrorCode.UNKNOWN_PROTOCOL: "not one of the box's programmes (a path is never taken), with \"did you mean ...?\"",
    ErrorCode.INVALID: "a patient id, programme or backup that does not validate (the checks of `rugcoach check`)",
    ErrorCode.NOT_FOUND: "no such patient on the box",
    ErrorCode.BUSY: "a patient is being coached (a session is under way)",
    ErrorCode.CALIBRATING: "the sensor is being calibrated",
    ErrorCode.DISK_FULL: "the disk is full: what the coach could not write yet waits for space",
    ErrorCode.STARTING: "the coach has no sample from the sensor (or no records) yet",
    ErrorCode.NO_SENSOR: "the sensor is not connected",
    ErrorCode.NO_SESSION: "the request needs a session under way",
    ErrorCode.CANNOT_PAUSE: "this part of the session has no pause (an exercise without the cushion)",
    ErrorCode.NOT_PAUSED: "`resume` without a therapist's pause",
    ErrorCode.INTERNAL: "the coach could not do it; its log says why (the coach goes on)",
}


class ApiError(Exception):
    """A refused request: `code` for the program, `message` one line for a person (English),
    `field` the argument it is about, when it is about one."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_wire(self) -> dict:
        return {"code": self.code.value, "message": self.message, "field": self.field}

    @classmethod
    def from_wire(cls, error: object) -> ApiError:
        error = error if isinstance(error, dict) else {}
        field = error.get("field")
        return cls(ErrorCode.of(error.get("code")), str(error.get("message") or "refused"),
                   field if isinstance(field, str) else None)


def to_wire(value: Any) -> Any:
    """A typed value as JSON-ready data (dataclasses as objects, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    return value


def encode(message: dict) -> bytes:
    """One frame: compact JSON on one line (what the socket and both clients write)."""
    return (json.dumps(to_wire(message), ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_wire(cls: type[T], data: object, where: str = "") -> T:
    """`data` (decoded JSON) as a `cls`, every field checked; ApiError(bad_argument,
    unknown_argument or missing_argument) naming the field otherwise."""
    return _convert(cls, data, where)


def _name(where: str, field: str) -> str:
    return f"{where}.{field}" if where else field


def _convert(kind: Any, data: object, where: str) -> Any:
    if dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where or 'params'}' must be an object", where or None)
        fields = {f.name: f for f in dataclasses.fields(kind)}
        for name in data:
            if name not in fields:
                close = difflib.get_close_matches(str(name), list(fields), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ApiError(ErrorCode.UNKNOWN_ARGUMENT, f"unknown argument '{_name(where, str(name))}'{hint}",
                               _name(where, str(name)))
        hints = _hints(kind)
        values = {}
        for name, field in fields.items():
            if name in data:
                values[name] = _convert(hints[name], data[name], _name(where, name))
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                if _optional(hints[name]):
                    values[name] = None
                else:
                    raise ApiError(ErrorCode.MISSING_ARGUMENT, f"missing argument '{_name(where, name)}'",
                                   _name(where, name))
        return typing.cast(Any, kind)(**values)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        last: ApiError | None = None
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, data, where)
            except ApiError as exc:
                last = exc
        assert last is not None
        raise last
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be a list", where)
        args = typing.get_args(kind)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(data) != len(args):
                raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must have {len(args)} items", where)
            return tuple(_convert(a, d, f"{where}[{i}]") for i, (a, d) in enumerate(zip(args, data)))
        item = args[0] if args else Any
        converted = [_convert(item, d, f"{where}[{i}]") for i, d in enumerate(data)]
        return tuple(converted) if origin is tuple else converted
    if origin is dict or kind is dict:
        if not isinstance(data, dict):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be an object", where)
        return dict(data)
    if kind is Any:
        return data
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            choices = ", ".join(str(m.value) for m in kind)
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be one of {choices}", where) from None
    if kind is bool:
        if not isinstance(data, bool):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be true or false", where)
        return data
    if kind is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be a whole number", where)
        return data
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be a number", where)
        return float(data)
    if kind is str:
        if not isinstance(data, str):
            raise ApiError(ErrorCode.BAD_ARGUMENT, f"'{where}' must be a string", where)
        return data
    raise TypeError(f"the API declares a type the codec does not know: {kind!r} at {where}")


def _optional(kind: Any) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)


def type_name(kind: Any) -> str:
    """A declared type as docs/api.md writes it."""
    if dataclasses.is_dataclass(kind):
        return typing.cast(type, kind).__name__
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else type_name(a) for a in typing.get_args(kind))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(kind) if a is not Ellipsis]
        return f"[{', '.join(type_name(a) for a in args)}]" if origin is tuple and len(args) > 1 \
            else f"list of {type_name(args[0]) if args else 'any'}"
    if origin is dict or kind is dict:
        return "object"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return " or ".join(f'"{m.value}"' for m in kind)
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(kind, str(kind))
