"""The box's settings and its voice, asked of the daemon (which keeps them in its state): read
them with what may be chosen, change them (each refused beside its field in Dutch, nothing
changed), and hear a sentence through the box's speaker.

Who may: every login reads them and sets the voice (volume, rate, the computer voice or the
practice's recordings) and hears the sample; the box's own settings (its name, the sensor's port,
the sound device, the time between corrections) are for admins."""

from __future__ import annotations

from aiohttp import web

from coach.api import methods as api
from coach.api.wire import ErrorCode, to_wire
from coach.console.context import Console, json_error, read_json
from coach.console.daemon_link import DaemonRefused
from coach.console.policy import Access, NotLogged, Route
from coach.console.routes.box import REFUSALS_NL

FIELDS_NL = {
    "name": "Geef een naam van 1 tot 40 tekens: letters, cijfers, spaties of . , ' ( ) -",
    "port": "Kies een drukmeter uit de lijst.",
    "audio": "Kies een geluidsuitgang uit de lijst.",
    "correction_gap_s": "Kies een getal van 3 tot 30 seconden.",
    "voice_pack": "Kies de computerstem of een opgenomen stem uit de lijst.",
    "volume": "Kies een volume van 30 tot 100%.",
    "rate_wpm": "Kies een spreektempo van 115 tot 155 woorden per minuut.",
}
BOX_FIELDS = ("name", "port", "audio", "correction_gap_s")
VOICE_FIELDS = ("voice_pack", "volume", "rate_wpm")
WHEN_NL = {"now": "meteen", "next_sentence": "vanaf de volgende zin", "next_session": "vanaf de volgende sessie"}


async def read_settings(_request: web.Request, console: Console) -> web.Response:
    return web.json_response(to_wire(await console.link.call(api.SETTINGS)))


def _change(fields: tuple[str, ...]):
    async def handler(request: web.Request, console: Console) -> web.Response:
        body = await read_json(request)
        given = {name: body[name] for name in fields if name in body}
        for name in ("correction_gap_s", "volume"):
            if name in given and isinstance(given[name], str):
                try:
                    given[name] = float(given[name].replace(",", "."))
                except ValueError:
                    return json_error(400, FIELDS_NL[name], name, "bad_argument")
        if "rate_wpm" in given and isinstance(given["rate_wpm"], str):
            if not given["rate_wpm"].strip().isdigit():
                return json_error(400, FIELDS_NL["rate_wpm"], "rate_wpm", "bad_argument")
            given["rate_wpm"] = int(given["rate_wpm"])
        if not given:
            return json_error(400, "Er is niets gewijzigd.", fields[0], "missing_argument")
        try:
            params = api.ChangeSettingsParams(**given)
            result = await console.link.call(api.CHANGE_SETTINGS, params)
        except DaemonRefused as exc:
            field_name = exc.field if exc.field in FIELDS_NL else fields[0]
            message = FIELDS_NL[field_name] if exc.code in (ErrorCode.BAD_ARGUMENT, ErrorCode.INVALID) \
                else REFUSALS_NL.get(exc.code, "Dat lukte niet. Er is niets gewijzigd.")
            return json_error(400, message, field_name, exc.code)
        except TypeError:   # a value of the wrong kind for the typed call
            return json_error(400, "Onleesbaar verzoek.", fields[0], "bad_argument")
        when = {name: WHEN_NL.get(moment, moment) for name, moment in result.takes_effect.items()}
        return web.json_response({**to_wire(result), "takes_effect_nl": when})
    handler.__name__ = f"change_{fields[0]}"
    return handler


async def say_sample(request: web.Request, console: Console) -> web.Response:
    body = await read_json(request)
    try:
        volume = float(body["volume"]) if body.get("volume") not in (None, "") else None
        rate = int(body["rate_wpm"]) if body.get("rate_wpm") not in (None, "") else None
    except (TypeError, ValueError):
        return json_error(400, FIELDS_NL["rate_wpm"], "rate_wpm", "bad_argument")
    try:
        result = await console.link.call(api.SAY_SAMPLE, api.SaySampleParams(volume, rate))
    except DaemonRefused as exc:
        field_name = exc.field if exc.field in FIELDS_NL else "say"
        message = FIELDS_NL.get(field_name) if exc.code is ErrorCode.BAD_ARGUMENT else \
            REFUSALS_NL.get(exc.code, "De box kan nu geen zin zeggen.")
        return json_error(409 if exc.code is ErrorCode.BUSY else 400, message or "Dat kan nu niet.", field_name,
                          exc.code)
    return web.json_response(to_wire(result))


ROUTES = [
    Route("GET", "/api/settings", read_settings, Access.LOGGED_IN, NotLogged("the box's settings: no patient data")),
    Route("POST", "/api/settings", _change(BOX_FIELDS), Access.ADMIN, "box_settings",
          refusal="Alleen een beheerder wijzigt de instellingen van de box."),
    Route("POST", "/api/settings/voice", _change(VOICE_FIELDS), Access.LOGGED_IN, "voice_settings"),
    Route("POST", "/api/settings/say", say_sample, Access.LOGGED_IN, "voice_sample"),
]
