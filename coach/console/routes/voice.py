"""The therapist's own voice: the coach's sentences recorded in the console, kept in the voice pack
the daemon uses, and heard back."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp import BodyPartReader, web

from coach.console.context import TEMP_PREFIX, Console, json_error
from coach.console.policy import Access, NotLogged, Route, audit_of, form_field
from coach.console.voice_takes import TakeRefused
from coach.errors import UserError

MAX_TAKE = 10 * 1024 * 1024   # a minute of a browser's Opus is well under 1 MB


def _voice_pack_in_use(console: Console) -> str | None:
    """The pack the daemon uses; while it restarts, the one it used last (a take must not go
    to another pack because the box was restarting)."""
    if console.link.status is not None:
        console.voice_pack_seen = console.link.status.voice.pack
    return console.voice_pack_seen


async def _voice_lines(console: Console) -> list[tuple[str | None, str]]:
    """Every sentence of the bundled programmes and the patients' own, in session order."""
    own = await asyncio.get_running_loop().run_in_executor(None, console.patients.programmes)
    return await console.takes.sentences(own)


def _damaged_pack() -> web.Response:
    return json_error(409, "De opnamen van deze stem zijn beschadigd. `rugcoach voice status` op de box zegt "
                           "wat er mis is; neem ze daarna opnieuw op of importeer ze opnieuw.", "take", "damaged_pack")


async def voice_overview(_request: web.Request, console: Console) -> web.Response:
    in_use = _voice_pack_in_use(console)
    try:
        lines = await _voice_lines(console)
    except (TimeoutError, ValueError):
        return json_error(500, "De zinnen konden niet geladen worden. Probeer het opnieuw.", code="voice")
    try:
        pack = console.takes.pack(in_use)
    except UserError:
        return _damaged_pack()
    overview = console.takes.overview(pack, lines)
    return web.json_response(dict(overview, in_use=in_use is not None))


async def voice_take(request: web.Request, console: Console) -> web.Response:
    """One sentence, recorded in the browser: processed, and kept in the pack, or refused with
    the reason beside the recorder."""
    try:
        reader = await request.multipart()
    except (AssertionError, KeyError, ValueError):
        return json_error(400, "Onleesbaar verzoek.", code="form")
    text = await form_field(await reader.next(), "text", 4096)
    if text is None:
        return json_error(400, "Onleesbaar verzoek.", code="form")
    try:
        lines = await _voice_lines(console)
    except (TimeoutError, ValueError):
        return json_error(500, "De zinnen konden niet geladen worden. Probeer het opnieuw.", "take", "voice")
    line = next(((key, said) for key, said in lines if said == text), None)
    if line is None:
        return json_error(400, "Deze zin hoort niet (meer) bij een programma. Laad de pagina opnieuw.",
                          "take", "unknown")
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
            audit_of(request).outcome = f"refused: {exc}"
            return json_error(400, str(exc), "take", "refused")
    audit_of(request).outcome = f"ok: {line[0]} in pack {pack.name}"
    return web.json_response(dict(kept, pack=pack.name, text=line[1]))


async def voice_audio(request: web.Request, console: Console) -> web.StreamResponse:
    """A kept recording, to hear it back as the box will play it."""
    try:
        pack = console.takes.pack(_voice_pack_in_use(console))
    except UserError:
        return _damaged_pack()
    recording = pack.find(None, request.query.get("text", ""))
    if recording is None:
        return json_error(404, "Deze zin is nog niet opgenomen.", code="not_found")
    return web.FileResponse(pack.folder / recording.file, headers={"Content-Type": "audio/wav"})


# Any account: each therapist records the coach's sentences in their own voice.
ROUTES = [
    Route("GET", "/api/voice", voice_overview, Access.LOGGED_IN, NotLogged("the sentences and which are recorded")),
    Route("POST", "/api/voice/take", voice_take, Access.LOGGED_IN, "voice_take"),
    Route("GET", "/api/voice/audio", voice_audio, Access.LOGGED_IN, NotLogged("a recorded sentence, no patient")),
]
