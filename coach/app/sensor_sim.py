"""`rugcoach sensor-sim`: a simulated PBU on a pseudo-terminal, so the whole real serial path can
be tried without hardware. Prints the device path. SIGUSR1 pulls the cable, SIGUSR2 plugs it
back in (a new device node behind the --link symlink, the t_ms counter restarted)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

from coach.config.protocols import Library
from coach.errors import UserError
from coach.sim.patient import Physiology, SimulatedPatient
from coach.sim.pty_sensor import PtySensor


def run_sensor_sim(args) -> int:
    if not 10.0 <= args.rate <= 100.0:
        raise UserError(f"--rate {args.rate:g} is out of range (10 to 100 samples per second)", exit_code=2)
    if not 0.0 <= args.noise <= 5.0:
        raise UserError(f"--noise {args.noise:g} is out of range (0 to 5 mmHg)", exit_code=2)
    session = Library().session(exercise=args.exercise)
    seed = args.seed if args.seed is not None else int(time.time())
    patient = SimulatedPatient(session, seed=seed, body=Physiology(noise=args.noise))
    sensor = PtySensor(patient, rate_hz=args.rate, link=args.link, bare=args.bare)
    print(sensor.plug(), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: (sensor.unplug(), print("unplugged", file=sys.stderr)))
    signal.signal(signal.SIGUSR2, lambda *_: print(f"plugged in again: {sensor.plug()}",
                                                   file=sys.stderr) if not sensor.plugged else None)
    sensor.start()
    if args.events:
        threading.Thread(target=_follow, args=(args.events, sensor, patient, stop), daemon=True).start()
    while not stop.wait(0.2):
        pass
    sensor.stop()
    return 0


def _follow(path, sensor: PtySensor, patient: SimulatedPatient, stop: threading.Event) -> None:
    """The simulated patient hears the coach: follow its events file as it grows."""
    while not path.exists() and not stop.wait(0.2):
        pass
    with open(path, encoding="utf-8") as handle:
        while not stop.is_set():
            line = handle.readline()
            if not line:
                stop.wait(0.05)
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with sensor.lock:
                patient.hear(event)
