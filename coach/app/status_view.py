"""`rugcoach status`: the daemon's status (docs/api.md) on one screen, for whoever installs or
looks after the box (English, as the log)."""

from __future__ import annotations

from coach.api.status import Status

MODES = {
    "starting": "starting (no sample from the sensor yet)",
    "armed": "waiting for a patient (pumping the bladder up starts a session)",
    "waiting_empty": "waiting for the bladder to be let down before the next patient",
    "in_session": "coaching",
    "calibrating": "calibrating the sensor",
}


def describe(status: Status) -> str:
    named = f" ({status.name})" if status.name else ""
    lines = [f"RugCoach {status.version}{named}: {MODES.get(status.state, status.state)}"]
    session, coach = status.session, status.coach
    if session is not None and coach is not None:
        number = session.record if session.record is not None else "(not yet in the records: the disk is full)"
        lines.append(f"  session {number}: patient {session.patient or 'not named'}, "
                     f"programme {session.programme}")
        where = (f"  exercise {coach.exercise_number} of {coach.exercises} ({coach.exercise}), "
                 f"repetition {coach.repetition} of {coach.repetitions}, {coach.state}")
        if coach.hold_left_s is not None:
            where += f", {coach.hold_left_s:.0f} s left in the hold"
        if coach.paused:
            where += f" (paused: {coach.paused})"
        lines.append(where)
    else:
        lines.append(f"  {status.sessions} session(s) since the start" +
                     (f", the last one {status.last_outcome}" if status.last_outcome else ""))
    upcoming = status.next
    lines.append(f"  next session: patient {upcoming.patient or 'not named'}, programme "
                 f"{upcoming.programme}" + (" (chosen in the console)" if upcoming.chosen else ""))
    sensor = status.sensor
    if sensor.connected:
        lines.append(f"  sensor: connected on {sensor.port}, {sensor.samples} samples, "
                     f"{sensor.bad_lines} bad line(s)")
    else:
        lines.append(f"  sensor: NOT connected on {sensor.port}" + (f": {sensor.problem}" if sensor.problem else ""))
    sound = status.sound
    lines.append(f"  sound: {sound.device}" + ("" if sound.available is None else
                 ", available" if sound.available else ", NOT available")
                 + (f", {sound.losses} loss(es)" if sound.losses else ""))
    disk = status.disk
    if disk is not None:
        line = f"  records: {disk.free_mb} MB free of {disk.total_mb} MB"
        if disk.full:
            line += (f"; FULL: {disk.waiting_repetitions} repetition(s) and {disk.waiting_samples} sample(s) "
                     "wait in memory until there is space (free some: old exports and backups)")
        elif disk.low:
            line += "; LOW: make room before the card is full"
        lines.append(line)
    if status.calibrated is not None:
        lines.append(f"  calibration: {status.calibrated.date or 'date unknown'}, zero {status.calibrated.offset:g}, "
                     f"span {status.calibrated.span_mmhg:g} mmHg")
    if status.help is not None:
        lines.append(f"  THE PATIENT CALLED FOR THE THERAPIST ({status.help.reason}) at {status.help.since}")
    if status.socket is not None:
        lines.append(f"  socket: {status.socket.path}, {status.socket.clients} client(s)")
    return "\n".join(lines)
