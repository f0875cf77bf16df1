"""The clinic's patients (a pseudonym, optionally a name and a note) and each one's programme."""

from __future__ import annotations

from aiohttp import web

from coach.console.context import Console, json_error, read_json
from coach.console.patients import PatientError
from coach.console.policy import Access, NotLogged, Route, audit_of
from coach.console.routes.settings import FIELDS_NL


async def patients_list(request: web.Request, console: Console) -> web.Response:
    return web.json_response({"patients": console.patients.search(request.query.get("q", "")[:64])})


async def patients_add(request: web.Request, console: Console) -> web.Response:
    body = await read_json(request)
    try:
        added = console.patients.add(str(body.get("pseudonym", "")), str(body.get("name") or ""),
                                     str(body.get("note") or ""))
    except PatientError as exc:
        return json_error(400, str(exc), exc.field)
    audit_of(request).patient = added["pseudonym"]
    return web.json_response(added)


async def patient_show(request: web.Request, console: Console) -> web.Response:
    found = console.patients.get(request.match_info["pseudonym"])
    if found is None:
        return json_error(404, "Deze patiënt bestaat niet (meer).", code="not_found")
    return web.json_response(found)


async def patient_programme(request: web.Request, console: Console) -> web.Response:
    pseudonym = request.match_info["pseudonym"]
    body = await read_json(request)
    try:
        console.patients.set_programme(pseudonym, body.get("exercises"))   # type: ignore[arg-type]
    except PatientError as exc:
        return json_error(400, str(exc), exc.field)
    return web.json_response(console.patients.get(pseudonym))


async def patient_voice(request: web.Request, console: Console) -> web.Response:
    """A patient who hears poorly: their own volume and rate (empty: the box's own)."""
    pseudonym = request.match_info["pseudonym"]
    body = await read_json(request)
    try:
        volume = float(str(body["volume"]).replace(",", ".")) if body.get("volume") not in (None, "") else None
    except ValueError:
        return json_error(400, FIELDS_NL["volume"], "volume")
    rate = str(body.get("rate_wpm") or "").strip()
    if rate and not rate.isdigit():
        return json_error(400, FIELDS_NL["rate_wpm"], "rate_wpm")
    try:
        console.patients.set_voice(pseudonym, volume, int(rate) if rate else None)
    except PatientError as exc:
        return json_error(404 if exc.field == "pseudonym" else 400, str(exc), exc.field)
    return web.json_response(console.patients.get(pseudonym))


async def exercises(_request: web.Request, console: Console) -> web.Response:
    return web.json_response({"exercises": console.patients.exercises()})


ROUTES = [
    Route("GET", "/api/patients", patients_list, Access.LOGGED_IN,
          NotLogged("the list to choose from; each patient opened is logged (view_patient)")),
    Route("POST", "/api/patients", patients_add, Access.LOGGED_IN, "add_patient"),
    Route("GET", "/api/patients/{pseudonym}", patient_show, Access.LOGGED_IN, "view_patient"),
    Route("POST", "/api/patients/{pseudonym}/programme", patient_programme, Access.LOGGED_IN, "set_programme"),
    Route("POST", "/api/patients/{pseudonym}/voice", patient_voice, Access.LOGGED_IN, "set_patient_voice"),
    Route("GET", "/api/exercises", exercises, Access.LOGGED_IN, NotLogged("the bundled library, no patient")),
]
