"""What every route of the console shares: the Console (its data, its link to the daemon, its
login sessions), the request's login, and the small helpers that answer in the console's way
(errors in Dutch beside a field, bodies read within limits, the password checked with the
login's back-off)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from coach.console.accounts import Account
from coach.console.daemon_link import DaemonLink
from coach.console.data import AccountStore, ConsoleData, PatientStore, RecordReader
from coach.console.login import LoginSession, LoginSessions, LoginThrottle
from coach.console.setup_code import SetupCode
from coach.console.voice_takes import VoiceTakes

STATIC = Path(__file__).parent / "static"
COOKIE = "__Host-rugcoach"          # __Host-: Secure, Path=/, no Domain: the browser enforces it
PRE_COOKIE = "__Host-rugcoach-pre"  # the double-submit token before login
MAX_BODY = 64 * 1024
TEMP_PREFIX = "console-tmp-"        # exports and backups on their way out; swept at start
RESTARTING = "De box start opnieuw op. Probeer het zo nog eens."
DISK_FULL = ("De geheugenkaart van de box is vol: dit is niet bewaard. Vraag wie de box onderhoudt om "
             "ruimte te maken, en probeer het daarna opnieuw.")
DISK_FULL_DONE = ("Dit is gedaan, maar de geheugenkaart van de box is vol: het toegangslogboek kon het niet "
                  "bewaren. Vraag wie de box onderhoudt om ruimte te maken.")


@dataclass
class Console:
    data: ConsoleData   # accounts, patients, records: the one interface to the console's data
    link: DaemonLink
    setup_code: SetupCode
    state_dir: Path
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time   # one-time codes follow the time of day
    sessions: LoginSessions = field(init=False)
    throttle: LoginThrottle = field(init=False)
    last_announce: float = float("-inf")
    restoring: bool = False   # records being swapped: the console's own connections are closed
    in_flight: int = 0        # requests being answered (a restore waits for them before it closes the data)
    restore_lock: asyncio.Lock = field(init=False)   # one restore at a time
    voice_pack_seen: str | None = None   # the daemon's voice pack, as its status said last
    reopen: Callable[[], ConsoleData] | None = None   # the data opened again, after a restore
    checks: asyncio.Semaphore = field(init=False)
    _account_locks: dict[str, asyncio.Lock] = field(init=False)
    setup_lock: asyncio.Lock = field(init=False)
    takes: VoiceTakes = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = LoginSessions(self.clock)
        self.throttle = LoginThrottle(self.clock)
        self.checks = asyncio.Semaphore(2)   # scrypt checks at once: a flood waits, the pool stays free
        self._account_locks = {}
        self.setup_lock = asyncio.Lock()     # two right codes at once make one admin, not two
        self.takes = VoiceTakes(self.state_dir)
        self.restore_lock = asyncio.Lock()

    @property
    def accounts(self) -> AccountStore:
        return self.data.accounts

    @property
    def patients(self) -> PatientStore:
        return self.data.patients

    @property
    def records(self) -> RecordReader:
        return self.data.records

    def account_lock(self, name: str) -> asyncio.Lock:
        if len(self._account_locks) > 1000:   # made-up names must not fill the memory
            self._account_locks = {k: v for k, v in self._account_locks.items() if v.locked()}
        return self._account_locks.setdefault(name.lower(), asyncio.Lock())


CONSOLE = web.AppKey("console", Console)
LOGIN: web.RequestKey[LoginSession | None] = web.RequestKey("login", LoginSession)   # None: no login
TOKEN: web.RequestKey[str | None] = web.RequestKey("token", str)    # the login cookie's token, or None


class PasswordRefused(Exception):
    """A password check said no: `response` is the answer, `outcome` what the access log says."""

    def __init__(self, response: web.Response, outcome: str):
        super().__init__(outcome)
        self.response = response
        self.outcome = outcome


async def checked_password(console: Console, name: str, password: str, address: str, field_name: str,
                           wrong: str, code: str | None = None) -> Account:
    """The account when `password` is right, and, when `code` is given (a login) and the account
    has two-step login, its one-time code too. One attempt per account at a time, the back-off
    checked inside that turn, so guesses sent in parallel wait their turn and are counted
    before the next one is tried; PasswordRefused otherwise.

    The account's count of failures is only cleared when both factors were right: a thief who
    knows the password must not guess codes at leisure between right passwords."""
    async with console.account_lock(name):
        wait = console.throttle.wait_s(name, address)
        if wait > 0:
            raise PasswordRefused(json_error(
                429, f"Te veel mislukte pogingen. Probeer het over {minutes(wait)} opnieuw.", field_name, "wait"),
                "refused: back-off")
        async with console.checks:
            account = await asyncio.get_running_loop().run_in_executor(
                None, console.accounts.verify, name, password)
        if account is None:
            console.throttle.failed(name, address)
            raise PasswordRefused(json_error(403, wrong, field_name), "wrong name or password")
        if code is not None and account.totp:
            if not code.strip():
                raise PasswordRefused(json_error(401, "Typ de code uit de app op uw telefoon.", "code", "totp"),
                                      "password right, code asked")
            if not console.accounts.use_totp(account.name, code, console.wall()):
                console.throttle.failed(name, address)
                raise PasswordRefused(json_error(
                    403, "Deze code klopt niet, of is al gebruikt. Typ de volgende code uit de app.", "code"),
                    "wrong one-time code")
        console.throttle.succeeded(name)
        return account


def minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds) + 1} seconden"
    whole = int(seconds // 60) + 1
    return "1 minuut" if whole == 1 else f"{whole} minuten"


def json_error(status: int, message: str, field_name: str | None = None, code: str | None = None) -> web.Response:
    body: dict = {"error": message}
    if field_name:
        body["field"] = field_name
    if code:
        body["code"] = str(code)
    return web.json_response(body, status=status)


def address_of(request: web.Request) -> str:
    return request.remote or "?"


def private_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True   # not a browser's cross-site request: those always carry Origin on POST
    return origin == f"https://{request.host}"


async def read_json(request: web.Request) -> dict:
    """The request's JSON object (read once: aiohttp keeps the body, so the policy's password
    check and the handler read the same)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "Onleesbaar verzoek."}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "Onleesbaar verzoek."}),
                                 content_type="application/json")
    return body


def login_of(request: web.Request) -> LoginSession:
    session = request[LOGIN]
    assert session is not None   # the policy let only a login through
    return session


def set_login_cookie(response: web.Response, token: str, console: Console) -> None:
    response.set_cookie(COOKIE, token, secure=True, httponly=True, samesite="Strict", path="/",
                        max_age=int(console.sessions.lifetime_s))
