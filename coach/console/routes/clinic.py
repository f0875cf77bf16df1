"""The practice's clinic store, as a console of one of its boxes sees it: whether it is reached,
what waits on this box, and every box of the practice (its room, idle or in session, the sensor,
when it was last seen), to go to its console; for an admin, the clashes boxes found when they
joined, to decide. A box on its own answers {"clinic": null}."""

from __future__ import annotations

import asyncio

from aiohttp import web

from coach.console.context import Console, json_error, login_of, read_json
from coach.console.policy import Access, NotLogged, Route, audit_of
from coach.errors import UserError

AWAY = "De praktijkopslag is niet bereikbaar. Kies later opnieuw."


async def clinic(request: web.Request, console: Console) -> web.Response:
    side = console.data.clinic
    if side is None:
        return web.json_response({"clinic": None})
    loop = asyncio.get_running_loop()
    boxes = await loop.run_in_executor(None, side.boxes)
    facts = await loop.run_in_executor(None, side.status)
    answer = {"clinic": facts, "boxes": boxes}
    if login_of(request).role == "admin":
        answer["clashes"] = await loop.run_in_executor(None, side.clashes)
    return web.json_response(answer)


async def resolve_clash(request: web.Request, console: Console) -> web.Response:
    """An admin keeps the clinic's account or patient, or the one the joining box brought."""
    side = console.data.clinic
    if side is None:
        return json_error(404, "Deze box hoort niet bij een praktijkopslag.", code="not_found")
    body = await read_json(request)
    keep = body.get("keep")
    if keep not in ("clinic", "box"):
        return json_error(400, "Kies die van de praktijk of die van de box.", "keep")
    try:
        number = int(request.match_info["number"])
        found = await asyncio.get_running_loop().run_in_executor(None, side.resolve, number, keep)
    except ValueError:
        return json_error(404, "Dit dubbele gegeven bestaat niet (meer).", code="not_found")
    except UserError:   # coach.clinic.address.StoreAway
        return json_error(503, AWAY, code="clinic_away")
    if found is None:
        return json_error(404, "Hierover is al gekozen.", code="not_found")
    kind, key = found
    audit = audit_of(request)
    audit.outcome = f"ok: the {'box' if keep == 'box' else 'clinic'}'s {kind} kept"
    if kind == "patient":
        audit.patient = key   # the patient column: a later forget replaces it there
    else:
        audit.outcome += f": {key}"   # an account's name, never a patient's
    return web.json_response({"key": key, "kept": keep})


ROUTES = [
    Route("GET", "/api/clinic", clinic, Access.LOGGED_IN,
          NotLogged("the practice's boxes and their state, polled, as /api/status for this box; no record is read")),
    Route("POST", "/api/clinic/clashes/{number}", resolve_clash, Access.ADMIN, "clinic_clash",
          refusal="Alleen een beheerder kiest welke gegevens blijven."),
]
