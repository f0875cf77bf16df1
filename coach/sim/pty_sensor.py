"""A simulated PBU sensor on a pseudo-terminal: the real serial path without hardware.

It writes `t_ms,mmHg` lines (or bare `mmHg`) from the simulated patient into the master side of
a pty; the coach opens the slave side with pyserial, exactly as it opens /dev/ttyACM0.
`unplug()` closes the pty and removes the udev-style symlink (a pulled USB cable); `plug()`
makes a new pty behind the same symlink, with the sensor's `t_ms` counter restarted from 0 (it
lost power with the cable).
"""

from __future__ import annotations

import os
import threading
import time
import tty
from pathlib import Path

from coach.sim.patient import SimulatedPatient


class PtySensor:
    def __init__(self, patient: SimulatedPatient, rate_hz: float = 50.0, link: Path | None = None,
                 bare: bool = False, speed: float = 1.0):
        if not 1.0 <= rate_hz <= 1000.0:
            raise ValueError("rate must be between 1 and 1000 Hz")
        self.patient = patient
        self.rate_hz = rate_hz
        self.link = link
        self.bare = bare
        self.speed = speed        # session seconds per wall second while plugged in (tests: > 1)
        self.lock = threading.Lock()   # the patient is also fed the coach's events from elsewhere
        self._master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        self.silent = False
        self._t_ms_origin = 0.0
        self.t = 0.0              # the patient's (session) time
        self.garbage_every_s = 0.0    # line noise now and then (soak tests)
        self.garbage: list[bytes] = []
        self._next_garbage = 0.0
        self._stop = threading.Event()

    def plug(self) -> str:
        """A new pseudo-terminal (new device node), behind the symlink if there is one."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._t_ms_origin = self.t  # the counter restarts with the power
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)  # atomic, as udev does it
        return str(self.link or self.path)

    def unplug(self) -> None:
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def write_raw(self, data: bytes) -> None:
        """Inject bytes (garbage tests) into the line."""
        if self._master is not None:
            os.write(self._master, data)

    def run(self) -> None:
        """Write samples until stop(): at `rate_hz` of session time, paced to the wall clock."""
        step = 1.0 / self.rate_hz
        wall = time.monotonic()
        next_at = wall
        while not self._stop.is_set():
            now = time.monotonic()
            elapsed, wall = now - wall, now
            with self.lock:
                self.t += elapsed * (self.speed if self.plugged and not self.silent else 1.0)
                value = self.patient.pressure(self.t)
            master = self._master
            if master is not None and not self.silent:
                t_ms = int((self.t - self._t_ms_origin) * 1000) % 2 ** 32
                line = f"{value:.2f}\n" if self.bare else f"{t_ms},{value:.2f}\n"
                data = line.encode()
                if self.garbage_every_s and self.t >= self._next_garbage and self.garbage:
                    self._next_garbage = self.t + self.garbage_every_s
                    data = self.garbage[int(self.t) % len(self.garbage)] + data
                try:
                    os.write(master, data)
                except OSError:
                    pass  # unplugged between the check and the write
            next_at += step / self.speed  # an absolute schedule: the rate does not drift
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="pty-sensor", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self.unplug()
