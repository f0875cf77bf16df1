"""The one client core of the control socket, without I/O (sans-IO): it numbers requests,
encodes them, splits what comes back into replies and notifications, and turns a reply into the
method's typed result or its ApiError. The sync driver (coach/adapters/control_client.py, for
`rugcoach status` and `calibrate`) and the async one (coach/console/daemon_link.py) only move
its bytes.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from coach.api.methods import API_VERSION, HELLO, NOTIFICATIONS, Hello, Method, Welcome
from coach.api.wire import ApiError, ErrorCode, encode, from_wire, to_wire


@dataclass(frozen=True)
class Reply:
    id: object
    result: object = None
    error: ApiError | None = None


@dataclass(frozen=True)
class Notification:
    method: str
    params: Any
    seq: int


class ClientCore:
    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def request(self, method: Method, params: object) -> tuple[int, bytes]:
        """A request's id and its frame."""
        if not isinstance(params, method.params):
            raise TypeError(f"{method.name} takes {method.params.__name__}, not {type(params).__name__}")
        request_id = next(self._ids)
        wire = {k: v for k, v in to_wire(params).items() if v is not None}
        return request_id, encode({"id": request_id, "method": method.name, "params": wire})

    @staticmethod
    def hello(client: str) -> Hello:
        return Hello(API_VERSION, client)

    @staticmethod
    def parse(line: bytes) -> Reply | Notification | None:
        """One line from the daemon; None when it is no message of the API (skipped)."""
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        if isinstance(message.get("method"), str):
            kind = NOTIFICATIONS.get(message["method"])
            params = message.get("params")
            if kind is not None and kind is not dict:
                try:
                    params = from_wire(kind, params, "params")
                except ApiError:
                    return None
            seq = message.get("seq")
            return Notification(message["method"], params, seq if isinstance(seq, int) else 0)
        if "error" in message:
            return Reply(message.get("id"), error=ApiError.from_wire(message["error"]))
        return Reply(message.get("id"), result=message.get("result"))

    @staticmethod
    def result(method: Method, reply: Reply) -> Any:
        """The reply as the method's result type; its ApiError raised."""
        if reply.error is not None:
            raise reply.error
        return from_wire(method.result, reply.result, "result")

    @staticmethod
    def check_welcome(welcome: Welcome) -> None:
        if welcome.api_version != API_VERSION:
            raise ApiError(ErrorCode.VERSION, f"the coach speaks API version {welcome.api_version}, this "
                                              f"client {API_VERSION}: update RugCoach so both are the same")


def refused_hello(error: ApiError) -> ApiError:
    """A daemon from before `hello` answers it with unknown_method: said as a version refusal."""
    if error.code is ErrorCode.UNKNOWN_METHOD:
        return ApiError(ErrorCode.VERSION, f"the coach is older than this client (it does not know "
                                           f"'{HELLO.name}'): update RugCoach so both are the same")
    return error
