"""`rugcoach sensor-sim`: a simulated PBU on a pseudo-terminal, so the whole real serial path can
be tried without hardware. Prints the device path. SIGUSR1 pulls the cable, SIGUSR2 plugs it
back in (a new device node behind the --link symlink, the t_ms counter restarted).

With --visitors, patients come and go, one after another, as in a treatment room (the daemon's
life); --speed runs the patients' time faster than the wall clock (soak tests); --garbage-every
sends a line of line noise now and then."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from coach.config.protocols import Library
from coach.errors import UserError
from coach.sim.patient import Physiology, SimulatedPatient
from coach.sim.pty_sensor import PtySensor
from coach.sim.visitors import Visitors

GARBAGE = [b"\xff\xfe\x00garbage\n", b"12a,3\n", b"#\n", b"9999999999999,1\n", b"\n\n", b"nan\n",
           b"x" * 200 + b"\n"]


@dataclass(frozen=True)
class SimOptions:
    """`rugcoach sensor-sim`'s values (see its --help)."""

    rate: float = 50.0
    noise: float = 0.15
    bare: bool = False
    link: Path | None = None
    events: Path | None = None
    exercise: str = "buiklig-a"
    protocol: str | None = None
    visitors: bool = False
    speed: float = 1.0
    first_visit_after: float | None = None
    garbage_every: float = 0.0
    seed: int | None = None


def run_sensor_sim(args: SimOptions) -> int:
    if not 10.0 <= args.rate <= 100.0:
        raise UserError(f"--rate {args.rate:g} is out of range (10 to 100 samples per second)", exit_code=2)
    if not 0.0 <= args.noise <= 5.0:
        raise UserError(f"--noise {args.noise:g} is out of range (0 to 5 mmHg)", exit_code=2)
    if not 0.1 <= args.speed <= 1000.0:
        raise UserError(f"--speed {args.speed:g} is out of range (0.1 to 1000)", exit_code=2)
    library = Library()
    session = library.session(protocol=args.protocol, exercise=None if args.protocol else args.exercise)
    seed = args.seed if args.seed is not None else int(time.time())
    body = Physiology(noise=args.noise)
    if args.visitors:
        patient = Visitors(session, seed=seed, body=body, first_after_s=args.first_visit_after)
    else:
        patient = SimulatedPatient(session, seed=seed, body=body, starts_pumping_at=3.0)
    sensor = PtySensor(patient, rate_hz=args.rate, link=args.link, bare=args.bare, speed=args.speed)
    if args.garbage_every:
        sensor.garbage_every_s, sensor.garbage = args.garbage_every, GARBAGE
    # Signals only ask; the main loop below does it, one request after the other: a handler that
    # unplugged by itself could be interrupted half-way by the next signal's (plugged in again
    # before the unplugging had finished, which then found the cable still in and did nothing).
    requests: deque[str] = deque()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: requests.append("unplug"))
    signal.signal(signal.SIGUSR2, lambda *_: requests.append("plug"))
    print(sensor.plug(), flush=True)
    if args.events:
        sensor.listen = EventsFollower(args.events, sensor.hear).poll
    sensor.start()
    while not stop.wait(0.05):
        while requests:
            if requests.popleft() == "unplug":
                sensor.unplug()
                print("unplugged", file=sys.stderr)
            elif not sensor.plugged:
                print(f"plugged in again: {sensor.plug()}", file=sys.stderr)
    sensor.stop()
    return 0


class EventsFollower:
    """The simulated patient hears the coach: its events file, read as it grows, a whole line at
    a time, from the sensor's own thread (`poll` every turn, never blocking): a follower on a
    thread of its own would compete with the writer for the interpreter.

    The daemon appends to its events file (a box's story survives its restarts): a file that is
    already there when the patient arrives is followed from its end, not replayed."""

    def __init__(self, path, hear):
        self.path = path
        self.hear = hear
        self._file = None
        self._partial = ""
        self._skip_to = os.path.getsize(path) if os.path.exists(path) else 0

    def poll(self) -> None:
        if self._file is None:
            try:
                self._file = open(self.path, encoding="utf-8")
            except FileNotFoundError:
                return
            if self._skip_to:
                self._file.seek(self._skip_to)
        while True:
            line = self._file.readline()
            if not line:
                return
            if not line.endswith("\n"):  # caught mid-write: the rest comes with the next read
                self._partial += line
                return
            line, self._partial = self._partial + line, ""
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.hear(event)
