"""Personal accounts (an admin makes them) and the access log (an admin reads it)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from coach.console.accounts import AccountError
from coach.console.context import Console, json_error, read_json
from coach.console.policy import Access, NotLogged, Route, audit_of


async def access_log(_request: web.Request, console: Console) -> web.Response:
    return web.json_response({"entries": console.accounts.access_log()})


async def accounts_list(_request: web.Request, console: Console) -> web.Response:
    return web.json_response({"accounts": [{"name": a.name, "role": a.role, "totp": a.totp}
                                           for a in console.accounts.all()],
                              "totp_required": console.accounts.totp_required()})


async def accounts_add(request: web.Request, console: Console) -> web.Response:
    """A new personal account. The admin types their own password again: a console left open
    must not let a passer-by make themselves an account."""
    body = await read_json(request)
    try:
        account = await asyncio.get_running_loop().run_in_executor(
            None, console.accounts.add, str(body.get("name", "")), str(body.get("password", "")),
            str(body.get("role", "")))
    except AccountError as exc:
        return json_error(400, str(exc), exc.field)
    audit_of(request).outcome = f"ok: {account.name} ({account.role})"
    return web.json_response({"name": account.name, "role": account.role})


ACCOUNTS_ONLY = "Alleen een beheerder beheert accounts."
ROUTES = [
    Route("GET", "/api/access-log", access_log, Access.ADMIN, "read_access_log",
          refusal="Alleen een beheerder kan het toegangslogboek lezen."),
    Route("GET", "/api/accounts", accounts_list, Access.ADMIN, NotLogged("the accounts' names and roles, no patient"),
          refusal=ACCOUNTS_ONLY),
    Route("POST", "/api/accounts", accounts_add, Access.ADMIN, "add_account", password=True, refusal=ACCOUNTS_ONLY),
]
