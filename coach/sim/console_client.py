"""A small HTTPS client of the console that keeps cookies and the CSRF token as a browser does,
with the box's certificate checked (as a therapist's browser does after the fingerprint check):
the console's tests and its benchmark drive the real server with it."""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class ConsoleClient:
    """`server`: anything with the console's `cert` (a path) and `port`. `timeout` only stops a
    hung caller: a take's processing (a process that imports PyAV and numpy) took over 30 s on
    one core shared with two other test workers."""

    server: Any
    cookies: dict = field(default_factory=dict)
    csrf: str = ""
    source: str = "127.0.0.1"
    timeout: float = 120.0

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                csrf: bool = True, raw: bytes | None = None) -> Reply:
        context = ssl.create_default_context(cafile=str(self.server.cert))
        connection = http.client.HTTPSConnection("localhost", self.server.port, context=context, timeout=self.timeout,
                                                 source_address=(self.source, 0))
        sent = {"Host": f"localhost:{self.server.port}"}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if csrf and self.csrf and method != "GET":
            sent["X-CSRF-Token"] = self.csrf
        sent.update(headers or {})
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";")[0]
                key, _, val = cookie.partition("=")
                if "max-age=0" in value.lower() or val in ("", '""'):
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = val
        connection.close()
        return reply

    def post_form(self, path: str, fields: list[tuple[str, bytes, str | None]]) -> Reply:
        """A multipart form, as a browser sends one with a file: (name, value, filename or None)."""
        boundary = "rugcoach-test-boundary"
        body = b""
        for name, value, filename in fields:
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        kind = f"multipart/form-data; boundary={boundary}"
        return self.request("POST", path, raw=body, headers={"Content-Type": kind})

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def before_login(self) -> ConsoleClient:
        self.csrf = self.get("/api/csrf").json["csrf"]
        return self

    def login(self, name: str, password: str, code: str | None = None) -> Reply:
        self.before_login()
        reply = self.post("/api/login", {"name": name, "password": password, **({"code": code} if code else {})})
        if reply.status == 200:
            self.csrf = self.get("/api/me").json["csrf"]
        return reply
