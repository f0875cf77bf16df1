"""Two-step login (TOTP): each account's own app, and the clinic's rule for everyone."""

from __future__ import annotations

import platform

from aiohttp import web

from coach.console import totp
from coach.console.context import Console, json_error, login_of, read_json
from coach.console.policy import Access, NotLogged, Route, audit_of


async def totp_begin(request: web.Request, _console: Console) -> web.Response:
    """A new secret for the therapist's app, shown once as a QR code (and as text, to type in).
    Nothing changes until a code from the app confirms it."""
    session = login_of(request)
    session.pending_totp = totp.new_secret()
    uri = totp.provisioning_uri(session.pending_totp, session.account, platform.node() or "box")
    return web.json_response({"secret": session.pending_totp, "uri": uri, "qr": totp.qr_data_uri(uri)})


async def totp_confirm(request: web.Request, console: Console) -> web.Response:
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
    return web.json_response({"totp": True})


async def totp_off(request: web.Request, console: Console) -> web.Response:
    session = login_of(request)
    if console.accounts.totp_required():
        return json_error(409, "Tweestapsverificatie is verplicht in deze praktijk.", "my_password", "required")
    console.accounts.set_totp(session.account, None)
    session.totp = False
    return web.json_response({"totp": False})


async def totp_rule(request: web.Request, console: Console) -> web.Response:
    """An admin makes two-step login compulsory for every account (or not). On only once the
    admin has it: the rule must not lock its maker out of the settings."""
    session = login_of(request)
    body = await read_json(request)
    required = body.get("required") is True
    if required and not session.totp:
        return json_error(409, "Zet eerst uw eigen tweestapsverificatie aan.", "required", "totp_first")
    console.accounts.require_totp(required)
    audit_of(request).outcome = "required" if required else "optional"
    return web.json_response({"totp_required": required})


async def totp_reset(request: web.Request, console: Console) -> web.Response:
    """An admin clears another account's two-step login (a lost or new phone). Its sessions end;
    it sets the app up again at its next login."""
    body = await read_json(request)
    name = str(body.get("name", "")).strip()
    target = console.accounts.get(name)
    if target is None:
        return json_error(404, "Dit account bestaat niet.", "name", "not_found")
    console.accounts.set_totp(target.name, None)
    console.sessions.close_account(target.name)
    audit_of(request).outcome = f"ok: {target.name}"
    return web.json_response({"name": target.name, "totp": False})


ACCOUNTS_ONLY = "Alleen een beheerder beheert accounts."
ROUTES = [
    Route("POST", "/api/me/totp/begin", totp_begin, Access.LOGGED_IN,
          NotLogged("a secret offered, nothing changed until it is confirmed"), password=True, enrolment=True),
    Route("POST", "/api/me/totp/confirm", totp_confirm, Access.LOGGED_IN, "totp_on", enrolment=True),
    Route("POST", "/api/me/totp/off", totp_off, Access.LOGGED_IN, "totp_off", password=True),
    Route("POST", "/api/settings/totp", totp_rule, Access.ADMIN, "totp_rule", password=True,
          refusal="Alleen een beheerder stelt dit in."),
    Route("POST", "/api/accounts/totp-reset", totp_reset, Access.ADMIN, "totp_reset", password=True,
          refusal=ACCOUNTS_ONLY),
]
