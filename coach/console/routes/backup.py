"""A backup of the box's data for an admin, and putting one back on a (new) box."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path

from aiohttp import BodyPartReader, web

from coach.adapters.backup import NoBackup
from coach.api import methods as api
from coach.api.wire import ErrorCode
from coach.console.context import COOKIE, TEMP_PREFIX, Console, json_error
from coach.console.daemon_link import DaemonRefused
from coach.console.policy import FORM, Access, Route, audit_of

log = logging.getLogger("rugcoach.console")

SPARE_BYTES = 64 * 1024 * 1024   # room left on the card after a restore's copies
IN_FLIGHT_WAIT_S = 10.0          # requests under way (a report, a login) finish before the data is closed

NO_BACKUP_NL = {
    "unreadable": "Dit bestand is niet te lezen.",
    "not_sqlite": "Dit bestand is geen back-up van RugCoach.",
    "damaged": "Deze back-up is beschadigd.",
    "not_ours": "Dit bestand is een database, maar geen back-up van RugCoach.",
    "newer": "Deze back-up komt van een nieuwere versie van RugCoach. Werk eerst de software van de box bij.",
}


async def backup_download(request: web.Request, console: Console) -> web.StreamResponse:
    """A consistent backup of the box's data, made by the daemon's records service (SQLite's
    online backup, beside the coaching) into a folder of this console's, then streamed."""
    loop = asyncio.get_running_loop()
    name = f"rugcoach-backup-{time.strftime('%Y%m%d-%H%M%S')}.db"
    with tempfile.TemporaryDirectory(dir=console.state_dir, prefix=TEMP_PREFIX) as folder:
        try:
            made = await console.link.call(api.BACKUP, api.BackupParams(str(Path(folder) / name)))
        except DaemonRefused as exc:
            if exc.code is ErrorCode.BUSY:
                return json_error(409, "Er wordt al een back-up gemaakt. Probeer het zo nog eens.", code="busy")
            log.error("backup failed: %s", exc)
            return json_error(500, "De back-up is mislukt. Probeer het opnieuw.", code="backup")
        audit_of(request).outcome = f"ok: {made.sessions} sessions, {made.repetitions} repetitions"
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                               "Content-Disposition": f'attachment; filename="{name}"'})
        await response.prepare(request)
        with open(made.path, "rb") as file:   # streamed: years of traces need not fit in memory
            while chunk := await loop.run_in_executor(None, file.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
    return response


async def restore_upload(request: web.Request, console: Console) -> web.Response:
    """A backup put back on this box (a new box, after an SD card died): an admin sends the
    file after their password (the form's first part, checked by the policy). The file is
    checked here, then the daemon, the records' owner, swaps it in between sessions while this
    console has its own connections closed. A refused file replaces nothing. The accounts come
    back with the records, so every login ends."""
    if console.restore_lock.locked():
        return json_error(409, "Er wordt al een back-up teruggezet.", "file", "busy")
    reader = request[FORM]
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
        if shutil.disk_usage(folder).free < 2 * size + SPARE_BYTES:   # the daemon builds both files beside
            return json_error(507, "Er is niet genoeg ruimte op de box voor deze back-up.", "file", "space")
        try:
            summary = await loop.run_in_executor(None, console.records.check_backup, upload)
        except NoBackup as exc:
            return json_error(400, NO_BACKUP_NL.get(exc.kind, "Dit is geen bruikbare back-up.") +
                              " Er is niets teruggezet.", "file", exc.kind)
        async with console.restore_lock:
            refused = await _swap_records(console, upload)
    if refused is not None:
        return refused
    console.sessions.close_all()   # the accounts are the backup's now
    if console.accounts.count() == 0:
        console.setup_code.get()   # a backup from before the console: the box is claimed anew
    audit_of(request).outcome = (f"ok: {summary['patients']} patients, {summary['sessions']} sessions, "
                                 f"{summary['repetitions']} repetitions")
    response = web.json_response(dict(summary, restored=True))
    response.del_cookie(COOKIE, path="/", secure=True, samesite="Strict")
    return response


async def _swap_records(console: Console, upload: Path) -> web.Response | None:
    """The daemon swaps the box's data while this console's connections to it are closed (the
    swap refuses while anyone holds them); other requests meanwhile are asked to wait."""
    console.restoring = True   # new requests are asked to wait; those under way finish first
    for _ in range(int(IN_FLIGHT_WAIT_S / 0.05)):
        if console.in_flight <= 1:   # this restore's own request
            break
        await asyncio.sleep(0.05)
    console.data.close()
    try:
        await console.link.call(api.RESTORE, api.RestoreParams(str(upload)))
    except DaemonRefused as exc:
        if exc.code in (ErrorCode.BUSY, ErrorCode.CALIBRATING):
            return json_error(409, "Er loopt een sessie of een kalibratie. Zet de back-up terug als de box "
                                   "vrij is. Er is niets teruggezet.", "file", exc.code)
        if exc.code is ErrorCode.DISK_FULL:
            return json_error(409, "De geheugenkaart van de box is vol: er wachten nog sessies om bewaard te "
                                   "worden. Maak eerst ruimte. Er is niets teruggezet.", "file", exc.code)
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


BACKUP_ONLY = "Alleen een beheerder maakt een back-up."
ROUTES = [
    Route("POST", "/api/backup", backup_download, Access.ADMIN, "backup", password=True, refusal=BACKUP_ONLY),
    Route("POST", "/api/restore", restore_upload, Access.ADMIN, "restore", password=True,
          refusal="Alleen een beheerder zet een back-up terug."),
]
