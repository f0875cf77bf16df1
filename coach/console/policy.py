"""Each route of the console declares its policy, and one middleware enforces it, in this order:

1. while a restore swaps the box's data, every request but the static files waits (503);
2. the login: a route that is not `PUBLIC` refuses without a live login session (401 for the
   API, the login page for a page);
3. the clinic's compulsory two-step login: an account without it may only use the routes
   declared `enrolment` (the page, who am I, setting it up, logout);
4. CSRF: every request that changes something carries the session's token in X-CSRF-Token and,
   when the browser sends one, an Origin of this server; before login, a double-submit token;
5. the role: `ADMIN` routes refuse a therapist (403, code `role`, the route's own Dutch words);
6. the password again (`password=True`): the account's own password in `my_password` (the
   first part of a multipart form), with the login's back-off, before the handler runs;
7. the handler, with the Console; a daemon that does not answer is a 503 "restarting";
8. the access log (NEN 7513): the route's declared action, with the outcome ("ok", or
   "refused: CODE") and the patient (what the handler names, or the path's pseudonym when the
   request was served).

A route without a declaration cannot be added (tests/console/test_routes.py lists them all).
"""

from __future__ import annotations

import enum
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import BodyPartReader, MultipartReader, web

from coach.adapters.state_files import disk_full
from coach.console.accounts import AccountError
from coach.console.context import (
    CONSOLE,
    COOKIE,
    DISK_FULL,
    DISK_FULL_DONE,
    LOGIN,
    PRE_COOKIE,
    RESTARTING,
    TOKEN,
    Console,
    PasswordRefused,
    address_of,
    checked_password,
    json_error,
    login_of,
    read_json,
    same_origin,
)
from coach.console.daemon_link import DaemonUnavailable
from coach.console.login import csrf_matches
from coach.console.patients import PatientError

log = logging.getLogger("rugcoach.console")

MAX_PASSWORD_PART = 1024   # the password field of a multipart form


class Access(enum.Enum):
    PUBLIC = "public"          # no login (the login and setup pages, and what they need)
    LOGGED_IN = "logged_in"    # any account: a therapist or an admin
    ADMIN = "admin"            # an admin's account only


@dataclass(frozen=True)
class NotLogged:
    """A route that writes nothing to the access log, and why (it touches no patient and
    changes no account)."""

    why: str


Handler = Callable[[web.Request, Console], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str                 # GET or POST
    path: str
    handler: Handler
    access: Access
    audit: str | NotLogged      # the access log's action for it, or why it writes none
    password: bool = False      # the account's own password again, before the handler
    enrolment: bool = False     # open to an account that must still set up its two-step login
    refusal: str = "Alleen een beheerder mag dit."   # said to a therapist on an ADMIN route
    lasting: bool = False       # stays open (the live view): not waited for by a restore


@dataclass
class Audit:
    """What the handler adds to its route's access-log line (`outcome`, `patient`, `account`),
    or `written` when it wrote its own line at the right moment (a live view, on opening)."""

    outcome: str | None = None
    patient: str | None = None
    account: str | None = None
    written: bool = False


ROUTE = web.RequestKey("route", Route)
AUDIT = web.RequestKey("audit", Audit)
FORM = web.RequestKey("form", MultipartReader)   # a multipart form, after its password part


def audit_of(request: web.Request) -> Audit:
    """The request's access-log details, for its handler to fill in."""
    if AUDIT not in request:
        request[AUDIT] = Audit()
    return request[AUDIT]


def declared(app: web.Application) -> dict[tuple[str, str], Route]:
    return app[DECLARED]


DECLARED = web.AppKey("declared", dict)


def add_routes(app: web.Application, routes: list[Route]) -> None:
    """Each route on the router, its declaration kept for the middleware."""
    table: dict[tuple[str, str], Route] = app.setdefault(DECLARED, {})   # type: ignore[arg-type]
    for route in routes:
        key = (route.method, route.path)
        if key in table:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        if route.access is Access.PUBLIC and route.password:
            raise ValueError(f"{route.path}: a public route has no account to ask the password of")
        table[key] = route
        app.router.add_route(route.method, route.path, _bound(route))


def _bound(route: Route):
    async def handle(request: web.Request) -> web.StreamResponse:
        return await route.handler(request, request.app[CONSOLE])
    handle.__name__ = route.handler.__name__
    return handle


def public_paths(app: web.Application) -> set[str]:
    return {path for (_method, path), route in declared(app).items() if route.access is Access.PUBLIC}


def _route_of(request: web.Request) -> Route | None:
    info = request.match_info.route
    resource = info.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return declared(request.app).get((method, resource.canonical))


@web.middleware
async def enforce(request: web.Request, handler):
    console: Console = request.app[CONSOLE]
    token = request.cookies.get(COOKIE)
    session = console.sessions.find(token)
    request[LOGIN] = session
    request[TOKEN] = token
    if request.path.startswith("/static/"):
        return await handler(request)
    if console.restoring:
        return json_error(503, "De box zet een back-up terug. Probeer het over een minuut opnieuw.", code="restoring")
    route = _route_of(request)
    if route is None or route.access is not Access.PUBLIC:
        if session is None:
            if request.path.startswith("/api/"):
                return json_error(401, "U bent niet (meer) ingelogd.", code="login")
            raise web.HTTPSeeOther("/setup" if console.accounts.count() == 0 else "/login")
    if route is None:   # no such route: aiohttp answers 404 or 405
        return await handler(request)
    request[ROUTE] = route
    if (route.access is not Access.PUBLIC and not route.enrolment and session is not None
            and not session.totp and console.accounts.totp_required()):
        return json_error(403, "Zet eerst tweestapsverificatie aan (verplicht in deze praktijk).",
                          code="totp_required")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        refused = _csrf_refusal(request)
        if refused is not None:
            return refused
    if route.access is Access.ADMIN and login_of(request).role != "admin":
        return _logged(request, route, json_error(403, route.refusal, code="role"))
    if route.password:
        refused = await _password_again(request, console)
        if refused is not None:
            return _logged(request, route, refused)
    counted = not route.lasting
    console.in_flight += counted
    refused = None   # set when a full card kept the handler from doing anything
    try:
        response = await handler(request)
    except DaemonUnavailable:
        response = json_error(503, RESTARTING, code="restarting")
    except (AccountError, PatientError) as exc:
        # a refusal a route did not expect: on a box of a clinic, a change while the clinic
        # store is away (coach/clinic/console.py), said beside the form, never a traceback
        response = json_error(409, str(exc), exc.field, "refused")
    except web.HTTPException as exc:
        _logged(request, route, exc)
        raise
    except (sqlite3.OperationalError, OSError) as exc:
        if not disk_full(exc):   # a full card: nothing was kept
            raise
        log.error("the disk is full: %s %s not carried out", request.method, request.path)
        response = refused = json_error(507, DISK_FULL, code="disk_full")
    finally:
        console.in_flight -= counted
    try:
        return _logged(request, route, response)
    except (sqlite3.OperationalError, OSError) as exc:
        if not disk_full(exc):
            raise
        # The access log could not keep its line (NEN 7513): what was asked to be read is not
        # shown; what was asked to be done was done, and is said so.
        log.error("the disk is full: the access log could not keep %s %s", request.method, request.path)
        if refused is not None or request.method in ("GET", "HEAD"):
            return json_error(507, DISK_FULL, code="disk_full")
        return json_error(507, DISK_FULL_DONE, code="disk_full")


def _csrf_refusal(request: web.Request) -> web.Response | None:
    if not same_origin(request):
        return json_error(403, "Dit verzoek komt niet van de console.", code="csrf")
    session = request[LOGIN]
    given = request.headers.get("X-CSRF-Token")
    expected = session.csrf if session is not None else request.cookies.get(PRE_COOKIE)
    if not expected or not csrf_matches(expected, given):
        return json_error(403, "Dit formulier is verlopen. Laad de pagina opnieuw.", code="csrf")
    return None


async def _password_again(request: web.Request, console: Console) -> web.Response | None:
    """Export, forget, backup, restore and account changes ask the password again: a console left
    open must not let a passer-by take or erase a patient's records. The login's back-off holds
    here too."""
    if request.content_type.startswith("multipart/"):
        try:
            reader = await request.multipart()
        except (AssertionError, KeyError, ValueError):
            return json_error(400, "Onleesbaar verzoek.", code="form")
        password = await form_field(await reader.next(), "my_password", MAX_PASSWORD_PART)
        if password is None:
            return json_error(400, "Onleesbaar verzoek.", code="form")
        request[FORM] = reader
    else:
        password = str((await read_json(request)).get("my_password", ""))
    session = login_of(request)
    try:
        await checked_password(console, session.account, password, address_of(request), "my_password",
                               "Uw eigen wachtwoord klopt niet.")
    except PasswordRefused as refused:
        audit_of(request).outcome = f"refused: {refused.outcome}"
        return refused.response
    return None


async def form_field(part, name: str, limit: int) -> str | None:
    """A small form field's whole text, or None when the part is not `name` or is too long."""
    if not isinstance(part, BodyPartReader) or part.name != name:
        return None
    data = b""
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > limit:
            return None
    return data.decode(errors="replace")


def _logged(request: web.Request, route: Route, response):
    """The route's access-log line, once its answer is known."""
    if isinstance(route.audit, NotLogged):
        return response
    audit = request.get(AUDIT) or Audit()
    if audit.written:
        return response
    status = getattr(response, "status", 500)
    outcome = audit.outcome
    if outcome is None:
        outcome = "ok" if status < 400 else f"refused: {_code_of(response) or status}"
    session = request[LOGIN]
    account = audit.account if audit.account is not None else (session.account if session is not None else None)
    # The path's pseudonym only when the request was served and the box still knows the patient:
    # a refused request, or one that ended after the patient was forgotten (a long export), must
    # not write a forgotten pseudonym back into the log.
    patient = audit.patient
    if patient is None and status < 400:
        named = request.match_info.get("pseudonym")
        console = request.app[CONSOLE]
        patient = named if named and (console.patients.get(named) is not None or console.records.knows(named)) \
            else None
    request.app[CONSOLE].accounts.log(route.audit, outcome, account=account, address=address_of(request),
                                      patient=patient)
    return response


def _code_of(response) -> str | None:
    body = getattr(response, "body", None)
    if isinstance(body, bytes | bytearray) and body[:1] == b"{":
        try:
            return json.loads(body).get("code")
        except ValueError:
            return None
    return None


def write_audit(request: web.Request, outcome: str, patient: str | None = None) -> None:
    """The route's access-log line now (for a handler whose answer lasts, like the live view)."""
    route = request[ROUTE]
    if isinstance(route.audit, NotLogged):
        return
    session = request[LOGIN]
    request.app[CONSOLE].accounts.log(route.audit, outcome, account=session.account if session else None,
                                      address=address_of(request), patient=patient)
    audit_of(request).written = True
