"""The box now: its status, the next session's patient and programme, and start, pause, resume
and stop, asked of the daemon (the console is a client of its socket and holds no session)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from coach.api import methods as api
from coach.api.wire import ErrorCode, to_wire
from coach.console.context import Console, json_error, login_of, read_json
from coach.console.daemon_link import DaemonRefused
from coach.console.policy import Access, NotLogged, Route, audit_of

# The daemon's refusals, for the therapist (docs/api.md codes).
REFUSALS_NL = {
    ErrorCode.BUSY: "Er wordt nu een patiënt gecoacht. Dat kan na de sessie.",
    ErrorCode.CALIBRATING: "De drukmeter wordt nu gekalibreerd. Dat kan daarna.",
    ErrorCode.DISK_FULL: "De geheugenkaart van de box is vol. Maak eerst ruimte.",
    ErrorCode.STARTING: "De box start nog op: de drukmeter heeft nog niets gemeten.",
    ErrorCode.NO_SESSION: "Er loopt nu geen sessie.",
    ErrorCode.NO_SENSOR: "De drukmeter is niet aangesloten.",
    ErrorCode.CANNOT_PAUSE: "Deze oefening kan niet gepauzeerd worden.",
    ErrorCode.NOT_PAUSED: "De sessie is niet gepauzeerd.",
    ErrorCode.UNKNOWN_PROTOCOL: "Dit programma bestaat niet op deze box. Kies een programma uit de lijst.",
    ErrorCode.INVALID: "Deze keuze is niet geldig.",
    ErrorCode.NOT_FOUND: "Deze patiënt bestaat niet (meer).",
    ErrorCode.BAD_ARGUMENT: "Deze waarde kan niet.",
}
PSEUDONYM_NL = "Gebruik een pseudoniem (zoals P-0042): 1 tot 64 letters, cijfers of . _ -, geen naam."


def current_patient(console: Console) -> str | None:
    status = console.link.status
    return status.session.patient if status is not None and status.session is not None else None


async def status(_request: web.Request, console: Console) -> web.Response:
    status_now = console.link.status
    return web.json_response({"link": console.link.state,
                              "status": to_wire(status_now) if status_now is not None else None})


FORGOTTEN_NL = "Deze patiënt is in de praktijk gewist. Kies een ander pseudoniem."


async def next_session(request: web.Request, console: Console) -> web.Response:
    body = await read_json(request)
    patient = str(body.get("patient") or "").strip() or None
    protocol = str(body.get("protocol") or "").strip() or None
    clinic = console.data.clinic
    if patient and clinic is not None and await asyncio.get_running_loop().run_in_executor(
            None, clinic.forgotten, patient):
        # a box of a clinic: a pseudonym the practice forgot is never used again
        return json_error(400, FORGOTTEN_NL, "patient", "forgotten")
    # a patient of the console with a programme of their own gets it, unless one is chosen here
    own = console.patients.get(patient) if patient and not protocol else None
    programme = own["programme"] if own else None
    # a patient who hears poorly: their own volume and rate, whichever programme they do
    heard = console.patients.get(patient) if patient else None
    volume, rate = (heard["volume"], heard["rate_wpm"]) if heard else (None, None)
    try:
        result = await console.link.call(api.NEXT_SESSION, api.NextSessionParams(patient, protocol, None, programme,
                                                                                  volume, rate))
    except DaemonRefused as exc:
        if exc.field == "patient" and exc.code is ErrorCode.INVALID:
            return json_error(400, PSEUDONYM_NL, "patient", exc.code)
        field_name = "protocol" if exc.field in ("protocol", "programme", "exercise") else "patient"
        # the daemon's detail is English: only a programme that does not validate needs it (FILE:LINE)
        detail = f" ({exc})" if exc.code is ErrorCode.INVALID else ""
        return json_error(400, f"{REFUSALS_NL.get(exc.code, 'Geweigerd.')}{detail}", field_name, exc.code)
    audit_of(request).patient = result.patient   # checked by the daemon: a pseudonym, never a typed name
    return web.json_response(to_wire(result))


def session_action(method: api.Method):
    async def handler(request: web.Request, console: Console) -> web.Response:
        audit_of(request).patient = current_patient(console)
        try:
            result = await console.link.call(method)
        except DaemonRefused as exc:
            return json_error(409, REFUSALS_NL.get(exc.code, "Dat kan nu niet."), code=exc.code)
        return web.json_response(to_wire(result))
    handler.__name__ = f"session_{method.name}"
    return handler


async def acknowledge_help(request: web.Request, console: Console) -> web.Response:
    """Someone goes to the patient who called: the alert ends in every console."""
    status_now = console.link.status
    audit_of(request).patient = status_now.help.patient if status_now is not None and status_now.help else None
    try:
        result = await console.link.call(api.ACKNOWLEDGE_HELP, api.AcknowledgeParams(login_of(request).account))
    except DaemonRefused as exc:
        return json_error(409, REFUSALS_NL.get(exc.code, "Dat kan nu niet."), code=exc.code)
    return web.json_response(to_wire(result))


async def start_calibration(request: web.Request, console: Console) -> web.Response:
    """The daemon's spoken calibration, started from the box's page (refused, with the reason,
    while a patient is coached)."""
    body = await read_json(request)
    try:
        span = float(body.get("span_mmhg", 40))
    except (TypeError, ValueError):
        span = float("nan")
    if not 5.0 <= span <= 150.0:   # NaN fails this too
        return json_error(400, "Kies een waarde van 5 tot 150 mmHg (meestal 40).", "span_mmhg", "bad_argument")
    try:
        result = await console.link.call(api.CALIBRATE, api.CalibrateParams(span))
    except DaemonRefused as exc:
        return json_error(409, REFUSALS_NL.get(exc.code, "Kalibreren kan nu niet."), "span_mmhg", exc.code)
    return web.json_response(to_wire(result))


async def cancel_calibration(_request: web.Request, console: Console) -> web.Response:
    result = await console.link.call(api.CANCEL_CALIBRATION)
    return web.json_response(to_wire(result))


ROUTES = [
    Route("GET", "/api/status", status, Access.LOGGED_IN, NotLogged("the box's state, polled; no record is read")),
    Route("POST", "/api/next", next_session, Access.LOGGED_IN, "next_session"),
    Route("POST", "/api/help/acknowledge", acknowledge_help, Access.LOGGED_IN, "help_acknowledged"),
    Route("POST", "/api/calibration", start_calibration, Access.LOGGED_IN, "calibrate"),
    Route("POST", "/api/calibration/cancel", cancel_calibration, Access.LOGGED_IN, "calibration_cancelled"),
] + [Route("POST", f"/api/session/{method.name}", session_action(method), Access.LOGGED_IN, method.name)
     for method in (api.START, api.PAUSE, api.RESUME, api.STOP)]
