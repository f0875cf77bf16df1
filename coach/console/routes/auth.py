"""Claiming a new box, logging in and out, and the pages."""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from coach import __version__
from coach.api import methods as api
from coach.console.accounts import AccountError
from coach.console.context import (
    COOKIE,
    LOGIN,
    PRE_COOKIE,
    STATIC,
    TOKEN,
    Console,
    PasswordRefused,
    address_of,
    checked_password,
    json_error,
    login_of,
    minutes,
    private_address,
    read_json,
    set_login_cookie,
)
from coach.console.daemon_link import DaemonRefused
from coach.console.policy import Access, NotLogged, Route, audit_of
from coach.console.routes.box import REFUSALS_NL

ANNOUNCE_EVERY_S = 10.0             # the box says the setup code at most this often


async def page(request: web.Request, console: Console) -> web.StreamResponse:
    unclaimed = console.accounts.count() == 0
    if request.path == "/setup" and not unclaimed:
        raise web.HTTPSeeOther("/login")
    if request.path == "/login" and unclaimed:
        raise web.HTTPSeeOther("/setup")
    if request.path in ("/login", "/setup") and request[LOGIN] is not None:
        raise web.HTTPSeeOther("/")
    return web.FileResponse(STATIC / "console.html")


async def favicon(_request: web.Request, _console: Console) -> web.Response:
    return web.Response(status=204)


async def csrf_token(request: web.Request, _console: Console) -> web.Response:
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
    response = web.json_response({"csrf": token})
    response.set_cookie(PRE_COOKIE, token, secure=True, httponly=True, samesite="Strict", path="/")
    return response


async def setup_state(_request: web.Request, console: Console) -> web.Response:
    return web.json_response({"unclaimed": console.accounts.count() == 0, "box": console.link.state})


async def setup_announce(request: web.Request, console: Console) -> web.Response:
    if console.accounts.count():
        return json_error(409, "Deze box heeft al een beheerder.", code="claimed")
    now = console.clock()
    if now - console.last_announce < ANNOUNCE_EVERY_S:
        return json_error(429, "De box zegt de code al. Probeer het zo nog eens.", code="wait")
    console.last_announce = now
    try:
        await console.link.call(api.ANNOUNCE_CODE, api.AnnounceCodeParams(console.setup_code.get()))
    except DaemonRefused as exc:
        return json_error(409, REFUSALS_NL.get(exc.code, "De box kan de code nu niet zeggen."), code=exc.code)
    return web.json_response({"spoken": True})


async def setup(request: web.Request, console: Console) -> web.Response:
    """The first account, an admin, with the one-time code."""
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
        return json_error(429, f"Te veel pogingen. Probeer het over {minutes(wait)} opnieuw.", "code", "wait")
    if not console.setup_code.matches(str(body.get("code", ""))):
        console.throttle.failed(f"setup {address}", address)
        if console.setup_code.wrong():
            audit_of(request).outcome = "wrong code: a new code made"
            return json_error(403, "Deze code klopt niet. Er waren te veel foute codes: de box heeft nu een nieuwe "
                                   "code. Laat de box de code opnieuw zeggen.", "code", "new_code")
        audit_of(request).outcome = "wrong code"
        return json_error(403, "Deze code klopt niet.", "code")
    try:
        account = await asyncio.get_running_loop().run_in_executor(
            None, console.accounts.add, str(body.get("name", "")), str(body.get("password", "")), "admin")
    except AccountError as exc:
        return json_error(400, str(exc), exc.field)
    console.setup_code.used()
    audit_of(request).account = account.name
    token, _session = console.sessions.open(account.name, account.role)
    response = web.json_response({"account": account.name, "role": account.role})
    set_login_cookie(response, token, console)
    return response


async def login(request: web.Request, console: Console) -> web.Response:
    address = address_of(request)
    body = await read_json(request)
    name, password = str(body.get("name", "")).strip(), str(body.get("password", ""))
    audit = audit_of(request)
    audit.account = name[:64]
    try:
        account = await checked_password(console, name, password, address, "password",
                                         "Naam of wachtwoord klopt niet.", code=str(body.get("code") or ""))
    except PasswordRefused as refused:
        audit.outcome = refused.outcome
        return refused.response
    token, _session = console.sessions.open(account.name, account.role, account.totp)
    audit.account = account.name
    response = web.json_response({"account": account.name, "role": account.role})
    set_login_cookie(response, token, console)
    return response


async def logout(request: web.Request, console: Console) -> web.Response:
    console.sessions.close(request[TOKEN])
    response = web.json_response({"logged_out": True})
    response.del_cookie(COOKIE, path="/", secure=True, samesite="Strict")
    return response


async def me(request: web.Request, console: Console) -> web.Response:
    session = login_of(request)
    return web.json_response({"account": session.account, "role": session.role, "csrf": session.csrf,
                              "version": __version__, "outside_lan": not private_address(address_of(request)),
                              "totp": session.totp, "totp_required": console.accounts.totp_required()})


PAGE = NotLogged("the page itself: its data comes from the API")
ROUTES = [
    Route("GET", "/", page, Access.LOGGED_IN, PAGE, enrolment=True),
    Route("GET", "/login", page, Access.PUBLIC, PAGE),
    Route("GET", "/setup", page, Access.PUBLIC, PAGE),
    Route("GET", "/favicon.ico", favicon, Access.PUBLIC, NotLogged("no data")),
    Route("GET", "/api/csrf", csrf_token, Access.PUBLIC, NotLogged("a token before login, no data")),
    Route("GET", "/api/setup/state", setup_state, Access.PUBLIC, NotLogged("whether the box is claimed")),
    Route("POST", "/api/setup/announce", setup_announce, Access.PUBLIC, "setup_code_spoken"),
    Route("POST", "/api/setup", setup, Access.PUBLIC, "setup"),
    Route("POST", "/api/login", login, Access.PUBLIC, "login"),
    Route("POST", "/api/logout", logout, Access.LOGGED_IN, "logout", enrolment=True),
    Route("GET", "/api/me", me, Access.LOGGED_IN, NotLogged("the login's own account"), enrolment=True),
]
