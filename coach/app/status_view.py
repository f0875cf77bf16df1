"""`rugcoach status`: the daemon's status (docs/api.md) on one screen, for whoever installs or
looks after the box (English, as the log)."""

from __future__ import annotations

MODES = {
    "starting": "starting (no sample from the sensor yet)",
    "armed": "waiting for a patient (pumping the bladder up starts a session)",
    "waiting_empty": "waiting for the bladder to be let down before the next patient",
    "in_session": "coaching",
}


def describe(status: dict) -> str:
    lines = [f"RugCoach {status.get('version', '?')}: {MODES.get(status['state'], status['state'])}"]
    session, coach = status.get("session"), status.get("coach")
    if session is not None and coach is not None:
        lines.append(f"  session {session['number']}: patient {session['patient'] or 'not named'}, "
                     f"programme {session['programme']}")
        where = (f"  exercise {coach['exercise_number']} of {coach['exercises']} ({coach['exercise']}), "
                 f"repetition {coach['repetition']} of {coach['repetitions']}, {coach['state']}")
        if coach.get("hold_left_s") is not None:
            where += f", {coach['hold_left_s']:.0f} s left in the hold"
        if coach.get("paused"):
            where += f" (paused: {coach['paused']})"
        lines.append(where)
    else:
        done = status.get("sessions", 0)
        lines.append(f"  {done} session(s) since the start" +
                     (f", the last one {status['last_outcome']}" if status.get("last_outcome") else ""))
    upcoming = status.get("next") or {}
    if upcoming:
        lines.append(f"  next session: patient {upcoming.get('patient') or 'not named'}, programme "
                     f"{upcoming.get('programme')}" + (" (chosen in the console)" if upcoming.get("chosen") else ""))
    sensor = status.get("sensor") or {}
    if sensor.get("connected"):
        lines.append(f"  sensor: connected on {sensor['port']}, {sensor.get('samples', 0)} samples, "
                     f"{sensor.get('bad_lines', 0)} bad line(s)")
    else:
        lines.append(f"  sensor: NOT connected on {sensor.get('port')}"
                     + (f": {sensor['problem']}" if sensor.get("problem") else ""))
    sound = status.get("sound") or {}
    available = sound.get("available")
    lines.append(f"  sound: {sound.get('device')}" + ("" if available is None else
                 ", available" if available else ", NOT available")
                 + (f", {sound['losses']} loss(es)" if sound.get("losses") else ""))
    control = status.get("socket") or {}
    if control:
        lines.append(f"  socket: {control['path']}, {control['clients']} client(s)")
    return "\n".join(lines)
