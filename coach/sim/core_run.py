"""A whole session on simulated time through the pure core, with speech lengths estimated
instead of synthesised: for the tests of the core and for the benchmarks (no audio, no files)."""

from __future__ import annotations

from coach.core.coach import Coach, Hush, Play
from coach.core.voice import Line
from coach.sim.patient import Behaviour, SimulatedPatient


def estimated_duration(line: Line | str) -> float:
    """Speech lengths close to espeak-ng's at 135 wpm."""
    text = line if isinstance(line, str) else line.text
    return 0.4 if text.startswith("tone:") else 0.25 + 0.065 * len(text)


class EstimatedSounds:
    """Sounds without audio: lengths only (the runner's `--audio none` path needs no samples)."""

    duration = staticmethod(estimated_duration)

    def samples(self, line):
        return None


def simulate(session, seed=0, behaviour=None, rate_hz=50.0, max_s=3600.0, body=None, patients=None, until=None):
    """Run a whole session through the pure core; returns (events, plays, coach). `patients`, a
    list, gets the simulated patient (its fault onsets, for latency figures); `until(patient, t)`
    ends the run early once what is asked of it has been seen."""
    coach = Coach(session, estimated_duration)
    kwargs = {"body": body} if body is not None else {}
    patient = SimulatedPatient(session, seed=seed, behaviour=behaviour or Behaviour(), **kwargs)
    if patients is not None:
        patients.append(patient)
    events, plays = [], []

    def handle(outputs):
        for output in outputs:
            if isinstance(output, Play):
                plays.append(output)
            elif isinstance(output, Hush):
                continue   # no audio here: what was cut is in the plays as it was started
            else:
                event = output.as_dict()   # the wire form, as the runner hands it on
                events.append(event)
                patient.hear(event)

    handle(coach.begin(0.0))
    step, k = 1.0 / rate_hz, 0
    while not coach.finished and k * step < max_s:
        k += 1
        t = round(k * step, 3)
        handle(coach.feed(t, round(patient.pressure(t), 2)))
        if until is not None and until(patient, t):
            break
    return events, plays, coach
