"""A patient's records: the report, the repetitions as CSV, the export, read here (the daemon
writes them); and forgetting a patient, which the daemon's records service does for both files."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from coach.adapters.records import new_reference
from coach.api import methods as api
from coach.api.wire import ErrorCode
from coach.console.context import TEMP_PREFIX, Console, address_of, json_error, login_of, read_json
from coach.console.daemon_link import DaemonRefused
from coach.console.policy import Access, Route, audit_of
from coach.errors import UserError
from coach.report.build import csv_name

REPORT = web.ResponseKey("report", bool)   # a report page: its own CSP (coach/console/web.py)


async def patient_report(request: web.Request, console: Console) -> web.Response:
    """The therapist's report of one patient, the very page `rugcoach report` writes."""
    pseudonym = request.match_info["pseudonym"]
    name = (console.patients.get(pseudonym) or {}).get("name")
    loop = asyncio.get_running_loop()
    try:
        html = await loop.run_in_executor(None, console.records.report_page, pseudonym, name)
    except UserError:
        return json_error(404, "Er zijn nog geen sessies bewaard.", code="no_records")
    response = web.Response(text=html.replace(f'href="{csv_name(pseudonym)}"',
                                              f'href="/api/patients/{pseudonym}/repetitions.csv"'),
                            content_type="text/html")
    response[REPORT] = True
    return response


async def patient_csv(request: web.Request, console: Console) -> web.Response:
    pseudonym = request.match_info["pseudonym"]
    loop = asyncio.get_running_loop()
    try:
        text = await loop.run_in_executor(None, console.records.repetitions_csv, pseudonym)
    except UserError:
        return json_error(404, "Er zijn nog geen sessies bewaard.", code="no_records")
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{csv_name(pseudonym)}"'})


async def patient_export(request: web.Request, console: Console) -> web.StreamResponse:
    """Everything stored about a patient (`rugcoach export`), as one zip file."""
    pseudonym = request.match_info["pseudonym"]
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(dir=console.state_dir, prefix=TEMP_PREFIX) as folder:
        try:
            out = await loop.run_in_executor(None, console.records.export, pseudonym, Path(folder) / pseudonym)
            archive = await loop.run_in_executor(None, shutil.make_archive, str(Path(folder) / "export"), "zip",
                                                 str(out.parent), out.name)
        except UserError:
            return json_error(404, "Over deze patiënt zijn nog geen sessies bewaard.", code="no_records")
        response = web.StreamResponse(headers={"Content-Type": "application/zip", "Content-Disposition":
                                               f'attachment; filename="export-{pseudonym}.zip"'})
        await response.prepare(request)
        with open(archive, "rb") as file:
            while chunk := await loop.run_in_executor(None, file.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
    return response


async def patient_forget(request: web.Request, console: Console) -> web.Response:
    """Every trace of a patient off the box, after the password and the patient's pseudonym are
    typed (the confirmation names the patient). The daemon's records service erases both files
    (the records and this console's own) and writes the access log's line, under the reference
    that replaces the pseudonym there."""
    pseudonym = request.match_info["pseudonym"]
    body = await read_json(request)
    if str(body.get("confirm", "")).strip() != pseudonym:
        return json_error(400, f"Typ {pseudonym} om te bevestigen dat u deze patiënt wilt wissen.", "confirm")
    side = console.data.clinic
    try:
        gone = await console.link.call(api.FORGET, api.ForgetParams(
            pseudonym, account=login_of(request).account, address=address_of(request)))
    except DaemonRefused as exc:
        if exc.code is ErrorCode.BUSY:
            return json_error(409, "Er loopt een sessie. Wis de gegevens als de box vrij is.", code="busy")
        if exc.code is ErrorCode.CALIBRATING:
            return json_error(409, "De drukmeter wordt gekalibreerd. Wis de gegevens daarna.", code=exc.code)
        loop = asyncio.get_running_loop()
        if exc.code is ErrorCode.NOT_FOUND and side is not None and (
                await loop.run_in_executor(None, console.patients.get, pseudonym) is not None
                or await loop.run_in_executor(None, console.records.knows, pseudonym)):
            # this box never held them; the clinic (other rooms) does
            reference = new_reference(pseudonym)
            reached = await loop.run_in_executor(None, side.forget, pseudonym, reference)
            audit_of(request).patient = reference   # never the pseudonym
            audit_of(request).outcome = "ok: in the clinic store" if reached else "ok: for the clinic store, waiting"
            return web.json_response({"forgotten": True, "sessions": 0, "reference": reference, "clinic": reached})
        if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.INVALID):
            return json_error(404, "Deze patiënt bestaat niet (meer).", code="not_found")
        return json_error(409, "Wissen lukte niet.", code=exc.code)
    audit_of(request).written = True   # by the records service, naming the reference: never the pseudonym
    reached = None
    if side is not None:   # every room: the clinic store now, or the clinic link first thing when it is back
        reached = await asyncio.get_running_loop().run_in_executor(None, side.forget, pseudonym, gone.reference)
    return web.json_response({"forgotten": True, "sessions": gone.sessions, "reference": gone.reference,
                              "clinic": reached})


ROUTES = [
    Route("GET", "/api/patients/{pseudonym}/report", patient_report, Access.LOGGED_IN, "view_report"),
    Route("GET", "/api/patients/{pseudonym}/repetitions.csv", patient_csv, Access.LOGGED_IN, "download_csv"),
    Route("POST", "/api/patients/{pseudonym}/export", patient_export, Access.LOGGED_IN, "export", password=True),
    # the records service writes this one's line itself (under the reference, after the erasure);
    # a refusal is logged here
    Route("POST", "/api/patients/{pseudonym}/forget", patient_forget, Access.ADMIN, "forget", password=True,
          refusal="Alleen een beheerder wist een patiënt."),
]
