"""The console's HTTPS server (aiohttp): pages, the JSON API, the live view, and the rules every
request passes first.

Every request, in this order (middlewares):
1. security headers on every answer: a Content-Security-Policy without inline script or outside
   loads, no framing, no sniffing, no referrer, HSTS;
2. the login: every page and API route but the login and setup pages (and their static files)
   refuses without a live login session;
3. CSRF: every request that changes something carries the session's token in X-CSRF-Token and,
   when the browser sends one, an Origin of this server; before login, a double-submit token;
4. the access log (NEN 7513) is written by the handlers that touch a patient or an account.

The pages are static HTML and JavaScript that fill themselves from the API with textContent, so
nothing a user typed is ever parsed as HTML.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import platform
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, WSMsgType, web

from coach import __version__
from coach.adapters.backup import NoBackup
from coach.console import totp
from coach.console.accounts import Account, AccountError
from coach.console.daemon_link import DaemonLink, DaemonRefused, DaemonUnavailable
from coach.console.data import AccountStore, ConsoleData, PatientStore, RecordReader
from coach.console.login import LoginSession, LoginSessions, LoginThrottle, csrf_matches
from coach.console.patients import PatientError
from coach.console.setup_code import SetupCode
from coach.console.voice_takes import TakeRefused, VoiceTakes
from coach.errors import UserError
from coach.report.build import csv_name

log = logging.getLogger("rugcoach.console")

STATIC = Path(__file__).parent / "static"
COOKIE = "__Host-rugcoach"          # __Host-: Secure, Path=/, no Domain: the browser enforces it
PRE_COOKIE = "__Host-rugcoach-pre"  # the double-submit token before login
ANNOUNCE_EVERY_S = 10.0             # the box says the setup code at most this often
MAX_BODY = 64 * 1024
TEMP_PREFIX = "console-tmp-"        # exports and backups on their way out; swept at start

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# The report is the very page `rugcoach report` writes, with its styles inline: still no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
              "frame-ancestors 'none'")
PUBLIC = {"/login", "/setup", "/api/csrf", "/api/login", "/api/setup", "/api/setup/announce",
          "/api/setup/state", "/favicon.ico"}
# When the clinic makes two-step login compulsory, an account without it may only do this, until
# its app is set up: the page, who am I, enrolment, and logout.
ENROLMENT = {"/", "/api/me", "/api/me/totp/begin", "/api/me/totp/confirm", "/api/logout"}

HTTPS_PORT = web.AppKey("https_port", int)
REPORT = web.ResponseKey("report", bool)   # a report page: its own CSP

# The daemon's refusals, for the therapist (docs/api.md codes).
REFUSALS_NL = {
    "busy": "Er loopt al een sessie of een kalibratie.",
    "no_session": "Er loopt nu geen sessie.",
    "no_sensor": "De drukmeter is niet aangesloten.",
    "cannot_pause": "Deze oefening kan niet gepauzeerd worden.",
    "not_paused": "De sessie is niet gepauzeerd.",
    "unknown_protocol": "Dit programma bestaat niet op deze box.",
    "invalid": "Deze keuze is niet geldig.",
}


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
                429, f"Te veel mislukte pogingen. Probeer het over {_minutes(wait)} opnieuw.", field_name, "wait"),
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


CONSOLE = web.AppKey("console", Console)
LOGIN: web.RequestKey[LoginSession | None] = web.RequestKey("login", LoginSession)   # None: no login
TOKEN: web.RequestKey[str | None] = web.RequestKey("token", str)    # the login cookie's token, or None


def json_error(status: int, message: str, field_name: str | None = None, code: str | None = None) -> web.Response:
    body: dict = {"error": message}
    if field_name:
        body["field"] = field_name
    if code:
        body["code"] = code
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


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True   # not a browser's cross-site request: those always carry Origin on POST
    return origin == f"https://{request.host}"


# -- middlewares ------------------------------------------------------------------------------
async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, as it is sent (on_response_prepare: also the streamed downloads, the
    WebSocket's handshake and the errors aiohttp makes itself)."""
    # the report keeps its own inline styles (it is the page `rugcoach report` writes); still no script
    response.headers["Content-Security-Policy"] = REPORT_CSP if response.get(REPORT) else CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Strict-Transport-Security"] = "max-age=31536000"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), geolocation=(), microphone=(self)"
    if request.path.startswith("/api/") or request.path in ("/", "/login", "/setup"):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def login_required(request: web.Request, handler):
    console: Console = request.app[CONSOLE]
    session = console.sessions.find(request.cookies.get(COOKIE))
    request[LOGIN] = session
    request[TOKEN] = request.cookies.get(COOKIE)
    public = request.path in PUBLIC or request.path.startswith("/static/")
    if console.restoring and not request.path.startswith("/static/"):
        return json_error(503, "De box zet een back-up terug. Probeer het over een minuut opnieuw.", code="restoring")
    if session is None and not public:
        if request.path.startswith("/api/"):
            return json_error(401, "U bent niet (meer) ingelogd.", code="login")
        raise web.HTTPSeeOther("/setup" if console.accounts.count() == 0 else "/login")
    if (session is not None and not public and request.path not in ENROLMENT
            and not session.totp and console.accounts.totp_required()):
        return json_error(403, "Zet eerst tweestapsverificatie aan (verplicht in deze praktijk).",
                          code="totp_required")
    return await handler(request)


@web.middleware
async def csrf_protect(request: web.Request, handler):
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    if not _same_origin(request):
        return json_error(403, "Dit verzoek komt niet van de console.", code="csrf")
    session: LoginSession | None = request[LOGIN]
    given = request.headers.get("X-CSRF-Token")
    expected = session.csrf if session is not None else request.cookies.get(PRE_COOKIE)
    if not expected or not csrf_matches(expected, given):
        return json_error(403, "Dit formulier is verlopen. Laad de pagina opnieuw.", code="csrf")
    return await handler(request)


# -- helpers for handlers -------------------------------------------------------------------------
async def read_json(request: web.Request) -> dict:
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
    assert session is not None   # login_required let it through
    return session


def set_login_cookie(response: web.Response, token: str, console: Console) -> None:
    response.set_cookie(COOKIE, token, secure=True, httponly=True, samesite="Strict", path="/",
                        max_age=int(console.sessions.lifetime_s))


# -- pages --------------------------------------------------------------------------------------
async def page(request: web.Request) -> web.StreamResponse:
    console: Console = request.app[CONSOLE]
    unclaimed = console.accounts.count() == 0
    if request.path == "/setup" and not unclaimed:
        raise web.HTTPSeeOther("/login")
    if request.path == "/login" and unclaimed:
        raise web.HTTPSeeOther("/setup")
    if request.path in ("/login", "/setup") and request[LOGIN] is not None:
        raise web.HTTPSeeOther("/")
    return web.FileResponse(STATIC / "console.html")


# -- before login: the pre-session token, setup, login ------------------------------------------
async def csrf_token(request: web.Request) -> web.Response:
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
    response = web.json_response({"csrf": token})
    response.set_cookie(PRE_COOKIE, token, secure=True, httponly=True, samesite="Strict", path="/")
    return response


async def setup_state(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return web.json_response({"unclaimed": console.accounts.count() == 0, "box": console.link.state})


async def setup_announce(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    if console.accounts.count():
        return json_error(409, "Deze box heeft al een beheerder.", code="claimed")
    now = console.clock()
    if now - console.last_announce < ANNOUNCE_EVERY_S:
        return json_error(429, "De box zegt de code al. Probeer het zo nog eens.", code="wait")
    console.last_announce = now
    try:
        await console.link.announce_setup_code(console.setup_code.get())
    except DaemonUnavailable:
        return json_error(503, "De box start opnieuw op. Probeer het zo nog eens.", code="restarting")
    except DaemonRefused as exc:
        return json_error(409, REFUSALS_NL.get(exc.code, "De box kan de code nu niet zeggen."), code=exc.code)
    console.accounts.log("setup_code_spoken", "ok", address=address_of(request))
    return web.json_response({"spoken": True})


async def setup(request: web.Request) -> web.Response:
    """The first account, an admin, with the one-time code."""
    console: Console = request.app[CONSOLE]
    async with console.setup_lock:   # two requests with the right code: the second finds the box claimed
        return await _setup(request, console)


async def _setup(request: web.Request, console: Console) -> web.Response:
    address = address_of(request)
    if console.accounts.count():
        return json_error(409, "Deze box heeft al een beheerder.", code="claimed")
    body = await read_json(request)
    # per address only: a host that guesses must not make the box wait for the clinic's own PC
    wait = console.throttle.wait_s(f"setup {address}", address)
    if wait > 0:
        return json_error(429, f"Te veel pogingen. Probeer het over {_minutes(wait)} opnieuw.", "code", "wait")
    if not console.setup_code.matches(str(body.get("code", ""))):
        console.throttle.failed(f"setup {address}", address)
        if console.setup_code.wrong():
            console.accounts.log("setup", "wrong code: a new code made", address=address)
            return json_error(403, "Deze code klopt niet. Er waren te veel foute codes: de box heeft nu een nieuwe "
                                   "code. Laat de box de code opnieuw zeggen.", "code", "new_code")
        console.accounts.log("setup", "wrong code", address=address)
        return json_error(403, "Deze code klopt niet.", "code")
    try:
        account = await asyncio.get_running_loop().run_in_executor(
            None, console.accounts.add, str(body.get("name", "")), str(body.get("password", "")), "admin")
    except AccountError as exc:
        return json_error(400, str(exc), exc.field)
    console.setup_code.used()
    console.accounts.log("setup", "ok", account=account.name, address=address)
    token, _session = console.sessions.open(account.name, account.role)
    response = web.json_response({"account": account.name, "role": account.role})
    set_login_cookie(response, token, console)
    return response


async def login(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    address = address_of(request)
    body = await read_json(request)
    name, password = str(body.get("name", "")).strip(), str(body.get("password", ""))
    try:
        account = await checked_password(console, name, password, address, "password",
                                         "Naam of wachtwoord klopt niet.", code=str(body.get("code") or ""))
    except PasswordRefused as refused:
        console.accounts.log("login", refused.outcome, account=name[:64], address=address)
        return refused.response
    token, _session = console.sessions.open(account.name, account.role, account.totp)
    console.accounts.log("login", "ok", account=account.name, address=address)
    response = web.json_response({"account": account.name, "role": account.role})
    set_login_cookie(response, token, console)
    return response


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds) + 1} seconden"
    minutes = int(seconds // 60) + 1
    return "1 minuut" if minutes == 1 else f"{minutes} minuten"


# -- after login ----------------------------------------------------------------------------------
async def logout(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    console.sessions.close(request[TOKEN])
    console.accounts.log("logout", "ok", account=session.account, address=address_of(request))
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/", secure=True, samesite="Strict")
    return response


async def me(request: web.Request) -> web.Response:
    session = login_of(request)
    address = address_of(request)
    console: Console = request.app[CONSOLE]
    return web.json_response({"account": session.account, "role": session.role, "csrf": session.csrf,
                              "version": __version__, "outside_lan": not private_address(address),
                              "totp": session.totp, "totp_required": console.accounts.totp_required()})


# -- two-step login (TOTP): each account's own, and the clinic's rule -------------------------------
async def totp_begin(request: web.Request) -> web.Response:
    """A new secret for the therapist's app, shown once as a QR code (and as text, to type in).
    Nothing changes until a code from the app confirms it."""
    session = login_of(request)
    body = await read_json(request)
    refused = await _password_again(request, body)
    if refused is not None:
        return refused
    session.pending_totp = totp.new_secret()
    uri = totp.provisioning_uri(session.pending_totp, session.account, platform.node() or "box")
    return web.json_response({"secret": session.pending_totp, "uri": uri, "qr": totp.qr_data_uri(uri)})


async def totp_confirm(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body = await read_json(request)
    secret = session.pending_totp
    if secret is None:
        return json_error(409, "Begin opnieuw: vraag eerst een nieuwe QR-code.", "code", "no_secret")
    step = totp.matching_step(secret, str(body.get("code", "")), console.wall(), None)
    if step is None:
        return json_error(400, "Deze code klopt niet. Controleer de tijd op uw telefoon en typ de nieuwe code.",
                          "code")
    console.accounts.set_totp(session.account, secret, step)   # that code is spent: never a login with it
    session.pending_totp = None
    session.totp = True
    console.accounts.log("totp_on", "ok", account=session.account, address=address_of(request))
    return web.json_response({"totp": True})


async def totp_off(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body = await read_json(request)
    if console.accounts.totp_required():
        return json_error(409, "Tweestapsverificatie is verplicht in deze praktijk.", "my_password", "required")
    refused = await _password_again(request, body)
    if refused is not None:
        return refused
    console.accounts.set_totp(session.account, None)
    session.totp = False
    console.accounts.log("totp_off", "ok", account=session.account, address=address_of(request))
    return web.json_response({"totp": False})


async def totp_rule(request: web.Request) -> web.Response:
    """An admin makes two-step login compulsory for every account (or not). On only once the
    admin has it: the rule must not lock its maker out of the settings."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body, refused = await _admin_with_password(request, "Alleen een beheerder stelt dit in.")
    if refused is not None:
        return refused
    required = body.get("required") is True
    if required and not session.totp:
        return json_error(409, "Zet eerst uw eigen tweestapsverificatie aan.", "required", "totp_first")
    console.accounts.require_totp(required)
    console.accounts.log("totp_rule", "required" if required else "optional", account=session.account,
                         address=address_of(request))
    return web.json_response({"totp_required": required})


async def totp_reset(request: web.Request) -> web.Response:
    """An admin clears another account's two-step login (a lost or new phone). Its sessions end;
    it sets the app up again at its next login."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body, refused = await _admin_with_password(request, "Alleen een beheerder beheert accounts.")
    if refused is not None:
        return refused
    name = str(body.get("name", "")).strip()
    target = console.accounts.get(name)
    if target is None:
        return json_error(404, "Dit account bestaat niet.", "name", "not_found")
    console.accounts.set_totp(target.name, None)
    console.sessions.close_account(target.name)
    console.accounts.log("totp_reset", f"ok: {target.name}", account=session.account, address=address_of(request))
    return web.json_response({"name": target.name, "totp": False})


async def status(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return web.json_response({"link": console.link.state, "status": console.link.status})


async def next_session(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body = await read_json(request)
    patient = str(body.get("patient") or "").strip() or None
    protocol = str(body.get("protocol") or "").strip() or None
    # a patient of the console with a programme of their own gets it, unless one is chosen here
    own = console.patients.get(patient) if patient and not protocol else None
    programme = own["programme"] if own else None
    try:
        result = await console.link.next_session(patient, protocol, programme)
    except DaemonUnavailable:
        return json_error(503, "De box start opnieuw op. Probeer het zo nog eens.", code="restarting")
    except DaemonRefused as exc:
        console.accounts.log("next_session", f"refused: {exc.code}", account=session.account,
                             address=address_of(request), patient=patient)
        if exc.code == "invalid" and "patient id" in str(exc):
            return json_error(400, "Gebruik een pseudoniem (zoals P-0042): 1 tot 64 letters, cijfers of . _ -, "
                                   "geen naam.", "patient", exc.code)
        field_name = "protocol" if exc.code == "unknown_protocol" else "patient"
        return json_error(400, f"{REFUSALS_NL.get(exc.code, 'Geweigerd.')} ({exc})", field_name, exc.code)
    console.accounts.log("next_session", "ok", account=session.account, address=address_of(request),
                         patient=result.get("patient"))
    return web.json_response(result)


def session_action(action: str) -> Callable:
    async def handler(request: web.Request) -> web.Response:
        console: Console = request.app[CONSOLE]
        session = login_of(request)
        status_now = console.link.status or {}
        patient = (status_now.get("session") or {}).get("patient")
        try:
            result = await getattr(console.link, f"{action}_session")()
        except DaemonUnavailable:
            return json_error(503, "De box start opnieuw op. Probeer het zo nog eens.", code="restarting")
        except DaemonRefused as exc:
            console.accounts.log(action, f"refused: {exc.code}", account=session.account,
                                 address=address_of(request), patient=patient)
            return json_error(409, REFUSALS_NL.get(exc.code, "Dat kan nu niet."), code=exc.code)
        console.accounts.log(action, "ok", account=session.account, address=address_of(request), patient=patient)
        return web.json_response(result)
    return handler


async def patients_list(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return web.json_response({"patients": console.patients.search(request.query.get("q", "")[:64])})


async def patients_add(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body = await read_json(request)
    try:
        added = console.patients.add(str(body.get("pseudonym", "")), str(body.get("name") or ""),
                                     str(body.get("note") or ""))
    except PatientError as exc:
        return json_error(400, str(exc), exc.field)
    console.accounts.log("add_patient", "ok", account=session.account, address=address_of(request),
                         patient=added["pseudonym"])
    return web.json_response(added)


async def patient_show(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    found = console.patients.get(request.match_info["pseudonym"])
    if found is None:
        return json_error(404, "Deze patiënt bestaat niet (meer).", code="not_found")
    console.accounts.log("view_patient", "ok", account=session.account, address=address_of(request),
                         patient=found["pseudonym"])
    return web.json_response(found)


async def patient_programme(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    pseudonym = request.match_info["pseudonym"]
    body = await read_json(request)
    try:
        console.patients.set_programme(pseudonym, body.get("exercises"))   # type: ignore[arg-type]
    except PatientError as exc:
        return json_error(400, str(exc), exc.field)
    console.accounts.log("set_programme", "ok", account=session.account, address=address_of(request),
                         patient=pseudonym)
    return web.json_response(console.patients.get(pseudonym))


# -- the records: read-only here (the daemon writes them), and forget through the daemon ------------


async def patient_report(request: web.Request) -> web.Response:
    """The therapist's report of one patient, the very page `rugcoach report` writes."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    pseudonym = request.match_info["pseudonym"]
    name = (console.patients.get(pseudonym) or {}).get("name")
    loop = asyncio.get_running_loop()
    try:
        html = await loop.run_in_executor(None, console.records.report_page, pseudonym, name)
    except UserError:
        return json_error(404, "Er zijn nog geen sessies bewaard.", code="no_records")
    console.accounts.log("view_report", "ok", account=session.account, address=address_of(request), patient=pseudonym)
    response = web.Response(text=html.replace(f'href="{csv_name(pseudonym)}"',
                                              f'href="/api/patients/{pseudonym}/repetitions.csv"'),
                            content_type="text/html")
    response[REPORT] = True
    return response


async def patient_csv(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    pseudonym = request.match_info["pseudonym"]
    loop = asyncio.get_running_loop()
    try:
        text = await loop.run_in_executor(None, console.records.repetitions_csv, pseudonym)
    except UserError:
        return json_error(404, "Er zijn nog geen sessies bewaard.", code="no_records")
    console.accounts.log("download_csv", "ok", account=session.account, address=address_of(request), patient=pseudonym)
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{csv_name(pseudonym)}"'})


async def _password_again(request: web.Request, body: dict) -> web.Response | None:
    """Export, forget, backup and account changes ask the password again: a console left open
    must not let a passer-by take or erase a patient's records. The login's back-off holds here too."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    try:
        await checked_password(console, session.account, str(body.get("my_password", "")),
                               address_of(request), "my_password", "Uw eigen wachtwoord klopt niet.")
    except PasswordRefused as refused:
        return refused.response
    return None


async def _admin_with_password(request: web.Request, not_admin: str) -> tuple[dict, web.Response | None]:
    """The request's body, once its login is an admin's and the password was typed again;
    else the refusal to answer with."""
    if login_of(request).role != "admin":
        return {}, json_error(403, not_admin, code="role")
    body = await read_json(request)
    return body, await _password_again(request, body)


async def patient_export(request: web.Request) -> web.StreamResponse:
    """Everything stored about a patient (`rugcoach export`), as one zip file."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    pseudonym = request.match_info["pseudonym"]
    body = await read_json(request)
    refused = await _password_again(request, body)
    if refused is not None:
        return refused
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(dir=console.state_dir, prefix=TEMP_PREFIX) as folder:
        try:
            out = await loop.run_in_executor(None, console.records.export, pseudonym, Path(folder) / pseudonym)
            archive = await loop.run_in_executor(None, shutil.make_archive, str(Path(folder) / "export"), "zip",
                                                 str(out.parent), out.name)
        except UserError:
            return json_error(404, "Over deze patiënt zijn nog geen sessies bewaard.", code="no_records")
        console.accounts.log("export", "ok", account=session.account, address=address_of(request), patient=pseudonym)
        response = web.StreamResponse(headers={"Content-Type": "application/zip", "Content-Disposition":
                                               f'attachment; filename="export-{pseudonym}.zip"'})
        await response.prepare(request)
        with open(archive, "rb") as file:
            while chunk := await loop.run_in_executor(None, file.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
    return response


async def patient_forget(request: web.Request) -> web.Response:
    """Every trace of a patient off the box, after the password and the patient's pseudonym are
    typed (the confirmation names the patient). The daemon's records service erases both files
    (the records and this console's own) and writes the access log's entry."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    if session.role != "admin":
        return json_error(403, "Alleen een beheerder wist een patiënt.", code="role")
    pseudonym = request.match_info["pseudonym"]
    body = await read_json(request)
    if str(body.get("confirm", "")).strip() != pseudonym:
        return json_error(400, f"Typ {pseudonym} om te bevestigen dat u deze patiënt wilt wissen.", "confirm")
    refused = await _password_again(request, body)
    if refused is not None:
        return refused
    try:
        gone = await console.link.forget(pseudonym, account=session.account, address=address_of(request))
    except DaemonUnavailable:
        return json_error(503, "De box start opnieuw op. Probeer het zo nog eens.", code="restarting")
    except DaemonRefused as exc:
        if exc.code == "busy":
            return json_error(409, "Er loopt een sessie. Wis de gegevens als de box vrij is.", code="busy")
        if exc.code == "invalid":
            return json_error(404, "Deze patiënt bestaat niet (meer).", code="not_found")
        return json_error(409, "Wissen lukte niet.", code=exc.code)
    return web.json_response({"forgotten": True, "sessions": gone.get("sessions", 0),
                              "reference": gone.get("reference")})


async def exercises(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return web.json_response({"exercises": console.patients.exercises()})


async def access_log(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    if session.role != "admin":
        return json_error(403, "Alleen een beheerder kan het toegangslogboek lezen.", code="role")
    console.accounts.log("read_access_log", "ok", account=session.account, address=address_of(request))
    return web.json_response({"entries": console.accounts.access_log()})


async def accounts_list(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    if login_of(request).role != "admin":
        return json_error(403, "Alleen een beheerder beheert accounts.", code="role")
    return web.json_response({"accounts": [{"name": a.name, "role": a.role, "totp": a.totp}
                                           for a in console.accounts.all()],
                              "totp_required": console.accounts.totp_required()})


async def accounts_add(request: web.Request) -> web.Response:
    """A new personal account. The admin types their own password again: a console left open
    must not let a passer-by make themselves an account."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    body, refused = await _admin_with_password(request, "Alleen een beheerder beheert accounts.")
    if refused is not None:
        return refused
    loop = asyncio.get_running_loop()
    role = str(body.get("role", ""))
    try:
        account = await loop.run_in_executor(None, console.accounts.add, str(body.get("name", "")),
                                             str(body.get("password", "")), role)
    except AccountError as exc:
        return json_error(400, str(exc), exc.field)
    console.accounts.log("add_account", f"ok: {account.name} ({account.role})", account=session.account,
                         address=address_of(request))
    return web.json_response({"name": account.name, "role": account.role})


async def backup_download(request: web.Request) -> web.StreamResponse:
    """A consistent backup of the records (SQLite's online backup, while the box runs), for an
    admin who types their password again."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    _body, refused = await _admin_with_password(request, "Alleen een beheerder maakt een back-up.")
    if refused is not None:
        return refused
    loop = asyncio.get_running_loop()
    name = f"rugcoach-backup-{time.strftime('%Y%m%d-%H%M%S')}.db"
    with tempfile.TemporaryDirectory(dir=console.state_dir, prefix=TEMP_PREFIX) as folder:
        try:
            made = await loop.run_in_executor(None, console.records.backup, Path(folder) / name)
        except UserError as exc:
            log.error("backup failed: %s", exc)
            return json_error(500, "De back-up is mislukt. Probeer het opnieuw.", code="backup")
        console.accounts.log("backup", f"ok: {made['sessions']} sessions, {made['repetitions']} repetitions",
                             account=session.account, address=address_of(request))
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                               "Content-Disposition": f'attachment; filename="{name}"'})
        await response.prepare(request)
        with open(made["path"], "rb") as file:   # streamed: years of traces need not fit in memory
            while chunk := await loop.run_in_executor(None, file.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
    return response


MAX_RESTORE_PART = 1024           # the password field of a restore's form
SPARE_BYTES = 64 * 1024 * 1024   # room left on the card after a restore's copies

NO_BACKUP_NL = {
    "unreadable": "Dit bestand is niet te lezen.",
    "not_sqlite": "Dit bestand is geen back-up van RugCoach.",
    "damaged": "Deze back-up is beschadigd.",
    "not_ours": "Dit bestand is een database, maar geen back-up van RugCoach.",
    "newer": "Deze back-up komt van een nieuwere versie van RugCoach. Werk eerst de software van de box bij.",
}


async def restore_upload(request: web.Request) -> web.Response:
    """A backup put back on this box (a new box, after an SD card died): an admin sends the
    file with their password. The file is checked here, then the daemon, the records' owner,
    swaps it in between sessions while this console has its own connections closed. A refused
    file replaces nothing. The accounts come back with the records, so every login ends."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    if session.role != "admin":
        return json_error(403, "Alleen een beheerder zet een back-up terug.", code="role")
    if console.restore_lock.locked():
        return json_error(409, "Er wordt al een back-up teruggezet.", "file", "busy")
    reader = await _form(request)
    if reader is None:
        return json_error(400, "Onleesbaar verzoek.", code="form")
    password = await _field(await reader.next(), "my_password", MAX_RESTORE_PART)
    if password is None:
        return json_error(400, "Onleesbaar verzoek.", code="form")
    refused = await _password_again(request, {"my_password": password})
    if refused is not None:
        return refused
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file":
        return json_error(400, "Kies een back-upbestand.", "file")
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(dir=console.state_dir, prefix=TEMP_PREFIX) as folder:
        upload = Path(folder) / "restore.db"
        size = 0
        with open(upload, "wb") as file:
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if shutil.disk_usage(folder).free < SPARE_BYTES + len(chunk):
                    return json_error(507, "Er is niet genoeg ruimte op de box voor deze back-up.", "file", "space")
                await loop.run_in_executor(None, file.write, chunk)
        if size == 0:
            return json_error(400, "Kies een back-upbestand.", "file")
        if shutil.disk_usage(folder).free < size + SPARE_BYTES:   # the daemon makes one more copy
            return json_error(507, "Er is niet genoeg ruimte op de box voor deze back-up.", "file", "space")
        try:
            summary = await loop.run_in_executor(None, console.records.check_backup, upload)
        except NoBackup as exc:
            console.accounts.log("restore", f"refused: {exc.kind}", account=session.account,
                                 address=address_of(request))
            return json_error(400, NO_BACKUP_NL.get(exc.kind, "Dit is geen bruikbare back-up.") +
                              " Er is niets teruggezet.", "file", exc.kind)
        async with console.restore_lock:
            result = await _swap_records(console, upload)
    if isinstance(result, web.Response):
        console.accounts.log("restore", f"refused: {result.status}", account=session.account,
                             address=address_of(request))
        return result
    console.sessions.close_all()   # the accounts are the backup's now
    if console.accounts.count() == 0:
        console.setup_code.get()   # a backup from before the console: the box is claimed anew
    console.accounts.log("restore", f"ok: {summary['patients']} patients, {summary['sessions']} sessions, "
                         f"{summary['repetitions']} repetitions", account=session.account,
                         address=address_of(request))
    response = web.json_response(dict(summary, restored=True))
    response.del_cookie(COOKIE, path="/", secure=True, samesite="Strict")
    return response


async def _swap_records(console: Console, upload: Path) -> web.Response | None:
    """The daemon swaps the records while this console's connections to them are closed (the
    swap refuses while anyone holds them); other requests meanwhile are asked to wait."""
    console.restoring = True
    console.data.close()
    try:
        await console.link.restore(str(upload))
    except DaemonUnavailable:
        return json_error(503, "De box start opnieuw op. Probeer het zo nog eens.", code="restarting")
    except DaemonRefused as exc:
        if exc.code == "busy":
            return json_error(409, "Er loopt een sessie. Zet de back-up terug als de box vrij is. "
                                   "Er is niets teruggezet.", "file", "busy")
        log.error("restore refused by the daemon: %s", exc)
        return json_error(409, "Terugzetten lukte niet: de gegevens zijn in gebruik. Er is niets teruggezet.",
                          "file", exc.code)
    finally:
        try:
            assert console.reopen is not None
            console.data = console.reopen()
        finally:   # even if reopening failed: the console answers again (and says what failed)
            console.restoring = False
    return None


async def _form(request: web.Request) -> MultipartReader | None:
    """The request's multipart reader, or None when it is no multipart form."""
    try:
        return await request.multipart()
    except (AssertionError, KeyError, ValueError):
        return None


async def _field(part, name: str, limit: int) -> str | None:
    """A small form field's whole text, or None when the part is not `name` or is too long."""
    if not isinstance(part, BodyPartReader) or part.name != name:
        return None
    data = b""
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > limit:
            return None
    return data.decode(errors="replace")


# -- the therapist's own voice: sentences recorded in the console ----------------------------------
MAX_TAKE = 10 * 1024 * 1024   # a minute of a browser's Opus is well under 1 MB


def _voice_pack_in_use(console: Console) -> str | None:
    """The pack the daemon uses; while it restarts, the one it used last (a take must not go
    to another pack because the box was restarting)."""
    if console.link.status is not None:
        console.voice_pack_seen = (console.link.status.get("voice") or {}).get("pack")
    return console.voice_pack_seen


async def _voice_lines(console: Console) -> list[tuple[str | None, str]]:
    """Every sentence of the bundled programmes and the patients' own, in session order."""
    own = await asyncio.get_running_loop().run_in_executor(None, console.patients.programmes)
    return await console.takes.sentences(own)


async def voice_overview(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    in_use = _voice_pack_in_use(console)
    try:
        lines = await _voice_lines(console)
    except (asyncio.TimeoutError, ValueError):
        return json_error(500, "De zinnen konden niet geladen worden. Probeer het opnieuw.", code="voice")
    try:
        pack = console.takes.pack(in_use)
    except UserError:
        return _damaged_pack()
    overview = console.takes.overview(pack, lines)
    return web.json_response(dict(overview, in_use=in_use is not None))


def _damaged_pack() -> web.Response:
    return json_error(409, "De opnamen van deze stem zijn beschadigd. `rugcoach voice status` op de box zegt "
                           "wat er mis is; neem ze daarna opnieuw op of importeer ze opnieuw.", "take", "damaged_pack")


async def voice_take(request: web.Request) -> web.Response:
    """One sentence, recorded in the browser: processed, and kept in the pack, or refused with
    the reason beside the recorder."""
    console: Console = request.app[CONSOLE]
    session = login_of(request)
    reader = await _form(request)
    if reader is None:
        return json_error(400, "Onleesbaar verzoek.", code="form")
    text = await _field(await reader.next(), "text", 4096)
    if text is None:
        return json_error(400, "Onleesbaar verzoek.", code="form")
    try:
        lines = await _voice_lines(console)
    except (asyncio.TimeoutError, ValueError):
        return json_error(500, "De zinnen konden niet geladen worden. Probeer het opnieuw.", "take", "voice")
    line = next(((key, said) for key, said in lines if said == text), None)
    if line is None:
        return json_error(400, "Deze zin zegt geen programma (meer). Laad de pagina opnieuw.", "take", "unknown")
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file":
        return json_error(400, "Er is geen opname meegestuurd.", "take")
    try:
        pack = console.takes.pack(_voice_pack_in_use(console))
    except UserError:
        return _damaged_pack()
    with tempfile.TemporaryDirectory(dir=console.state_dir, prefix=TEMP_PREFIX) as folder:
        upload = Path(folder) / "take"
        size = 0
        with open(upload, "wb") as file:
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > MAX_TAKE:
                    return json_error(413, "Deze opname is te lang. Neem één zin op.", "take", "too_long")
                file.write(chunk)
        try:
            kept = await console.takes.keep(pack, line[0], line[1], upload)
        except TakeRefused as exc:
            console.accounts.log("voice_take", f"refused: {exc}", account=session.account,
                                 address=address_of(request))
            return json_error(400, str(exc), "take", "refused")
    console.accounts.log("voice_take", f"ok: {line[0]} in pack {pack.name}", account=session.account,
                         address=address_of(request))
    return web.json_response(dict(kept, pack=pack.name, text=line[1]))


async def voice_audio(request: web.Request) -> web.StreamResponse:
    """A kept recording, to hear it back as the box will play it."""
    console: Console = request.app[CONSOLE]
    try:
        pack = console.takes.pack(_voice_pack_in_use(console))
    except UserError:
        return _damaged_pack()
    recording = pack.find(None, request.query.get("text", ""))
    if recording is None:
        return json_error(404, "Deze zin is nog niet opgenomen.", code="not_found")
    return web.FileResponse(pack.folder / recording.file, headers={"Content-Type": "audio/wav"})


async def live(request: web.Request) -> web.StreamResponse:
    """The live view: the state now and the session so far, then every sample and event."""
    console: Console = request.app[CONSOLE]
    if not _same_origin(request):   # a cross-site WebSocket would carry the cookie otherwise
        return json_error(403, "Dit verzoek komt niet van de console.", code="csrf")
    session = login_of(request)
    socket = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await socket.prepare(request)
    patient = ((console.link.status or {}).get("session") or {}).get("patient")
    console.accounts.log("live_view", "opened", account=session.account, address=address_of(request),
                         patient=patient)
    queue = console.link.watch()

    async def drain_incoming():
        async for message in socket:   # nothing is expected; this notices a closed tab
            if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    incoming = asyncio.get_running_loop().create_task(drain_incoming())
    try:
        while not socket.closed:
            getting = asyncio.get_running_loop().create_task(queue.get())
            done, _ = await asyncio.wait({getting, incoming}, return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                break
            text = getting.result()
            if text is None:
                break   # too slow: the page reconnects and starts from a fresh snapshot
            if not console.sessions.alive(request[TOKEN]):   # watching is no activity: idle logout holds
                await socket.close(code=4401, message=b"login ended")
                break
            await socket.send_str(text)
    finally:
        console.link.unwatch(queue)
        incoming.cancel()
        await socket.close()
    return socket


async def favicon(_request: web.Request) -> web.Response:
    return web.Response(status=204)


def make_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[login_required, csrf_protect], client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers)
    app[CONSOLE] = console
    app.router.add_get("/", page)
    app.router.add_get("/login", page)
    app.router.add_get("/setup", page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    app.router.add_get("/api/csrf", csrf_token)
    app.router.add_get("/api/setup/state", setup_state)
    app.router.add_post("/api/setup/announce", setup_announce)
    app.router.add_post("/api/setup", setup)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/me/totp/begin", totp_begin)
    app.router.add_post("/api/me/totp/confirm", totp_confirm)
    app.router.add_post("/api/me/totp/off", totp_off)
    app.router.add_post("/api/settings/totp", totp_rule)
    app.router.add_post("/api/accounts/totp-reset", totp_reset)
    app.router.add_get("/api/status", status)
    app.router.add_post("/api/next", next_session)
    for action in ("start", "pause", "resume", "stop"):
        app.router.add_post(f"/api/session/{action}", session_action(action))
    app.router.add_get("/api/access-log", access_log)
    app.router.add_get("/api/accounts", accounts_list)
    app.router.add_post("/api/accounts", accounts_add)
    app.router.add_get("/api/patients", patients_list)
    app.router.add_post("/api/patients", patients_add)
    app.router.add_get("/api/patients/{pseudonym}", patient_show)
    app.router.add_post("/api/patients/{pseudonym}/programme", patient_programme)
    app.router.add_get("/api/patients/{pseudonym}/report", patient_report)
    app.router.add_get("/api/patients/{pseudonym}/repetitions.csv", patient_csv)
    app.router.add_post("/api/patients/{pseudonym}/export", patient_export)
    app.router.add_post("/api/patients/{pseudonym}/forget", patient_forget)
    app.router.add_get("/api/exercises", exercises)
    app.router.add_post("/api/backup", backup_download)
    app.router.add_post("/api/restore", restore_upload)
    app.router.add_get("/api/voice", voice_overview)
    app.router.add_post("/api/voice/take", voice_take)
    app.router.add_get("/api/voice/audio", voice_audio)
    app.router.add_get("/api/live", live)
    return app


def redirect_app() -> web.Application:
    """Plain HTTP only sends the browser to HTTPS."""
    async def to_https(request: web.Request) -> web.Response:
        host = request.host.split(":")[0]
        port = request.app[HTTPS_PORT]
        raise web.HTTPMovedPermanently(f"https://{host}{'' if port == 443 else f':{port}'}{request.path_qs}")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", to_https)
    return app
