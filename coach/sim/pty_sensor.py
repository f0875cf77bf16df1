"""A simulated PBU sensor on a pseudo-terminal: the real serial path without hardware.

It writes `t_ms,mmHg` lines (or bare `mmHg`) from the simulated patient into the master side of
a pty; the coach opens the slave side with pyserial, exactly as it opens /dev/ttyACM0.
`unplug()` closes the pty and removes the udev-style symlink (a pulled USB cable); `plug()`
makes a new pty behind the same symlink, with the sensor's `t_ms` counter restarted from 0 (it
lost power with the cable).

Faster than real time (`speed` > 1, for tests), the patient must still hear the coach in time:
a real patient hears a sentence the moment it is said, and at 300x a millisecond of delay on a
busy machine would be 0.3 s of the patient's life. So the patient's clock is bound to the
coach's: the coach (`rugcoach run --clock-events S`) reports, in its events, the sensor's own
t_ms of the last sample it has taken in, and this sensor never runs more than LEAD_S of patient
time ahead of that. Whatever the coach said up to then was written before its report, so the
patient has heard it: by construction, never more than LEAD_S late, however slow the machine.
Until the coach first reports on a connection (it has just opened the port, which drops what
was waiting), and without reports at all, the sensor runs in real time.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from coach.core.ports import PatientModel

LEAD_S = 1.0            # patient seconds the sensor may run ahead of the coach's last report
MAX_BACKLOG = 16_384    # bytes kept while nobody reads the port; older whole lines are dropped
POLL_S = 0.001          # how often a sensor held back by the lead looks for the coach's report
STALL_S = 1.0           # a flowing sensor this long without writing has stalled (see `stalls`)


class PtySensor:
    def __init__(self, patient: PatientModel, rate_hz: float = 50.0, link: Path | None = None,
                 bare: bool = False, speed: float = 1.0):
        if not 1.0 <= rate_hz <= 1000.0:
            raise ValueError("rate must be between 1 and 1000 Hz")
        self.patient = patient
        self.rate_hz = rate_hz
        self.link = link
        self.bare = bare
        self.speed = speed        # session seconds per wall second while plugged in (tests: > 1)
        self.lock = threading.Lock()   # the patient may also hear the coach from another thread
        self._master: int | None = None
        self._slave: int | None = None
        self.path: str | None = None
        self._silent = False
        self._t_ms_origin = 0.0
        self.t = 0.0              # the patient's (session) time
        self._next_sample = 0     # the sensor samples on its own grid: sample k at k / rate_hz
        self._backlog = bytearray()  # written lines the port has not taken yet (never cut)
        self._flow_start_ms = 0   # t_ms of the first line of this flow (lines flowing again)
        self._written_ms = -1     # t_ms of the newest line written on this connection
        self.acked_t: float | None = None   # patient time of the coach's newest report, this flow
        self.offset = 0.0         # patient time minus the coach's session time (from its reports)
        self.listen: Callable[[], None] | None = None  # called every turn: hear the coach
        self.garbage_every_s = 0.0    # line noise now and then (soak tests)
        self.garbage: list[bytes] = []
        self._next_garbage = 0.0
        self._stop = threading.Event()
        # Wall-clock (monotonic) spans in which this flowing sensor wrote nothing for over
        # STALL_S: held back by the lead while the coach's report was on its way, or starved of
        # the CPU. A real sensor never stalls, so a coach that says "lost" inside one is right
        # about the double, not wrong about the sensor; tests use them to tell the two apart.
        self.stalls: list[tuple[float, float]] = []
        self._last_write = time.monotonic()

    # -- the cable -------------------------------------------------------------------------
    def plug(self) -> str:
        """A new pseudo-terminal (new device node), behind the symlink if there is one."""
        master, slave = os.openpty()
        tty.setraw(slave)
        # never block on a port nobody reads: the lines wait in the backlog instead
        fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
        with self.lock:
            self._master, self._slave = master, slave
            self.path = os.ttyname(slave)
            self._t_ms_origin = self.t  # the counter restarts with the power
            self._start_flow()
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
        with self.lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None
            self._backlog.clear()   # what was on its way is lost with the cable

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def silent(self) -> bool:
        return self._silent

    @silent.setter
    def silent(self, value: bool) -> None:
        """A sensor that stops talking with the cable in (and, set False, talks again)."""
        with self.lock:
            if self._silent and not value:
                self._start_flow()
            self._silent = value

    def _start_flow(self) -> None:
        """Lines flow again: in real time until the coach reports on this flow."""
        self._flow_start_ms = self._t_ms(self.t)
        self._written_ms = self._flow_start_ms - 1
        self.acked_t = None
        self._last_write = time.monotonic()   # a silence or an unplugged cable is no stall

    def _t_ms(self, t: float) -> int:
        """The sensor's counter at patient time t (it restarted from 0 when the cable was plugged)."""
        return int(round((t - self._t_ms_origin) * 1000))

    # -- hearing the coach -------------------------------------------------------------------
    def hear(self, event: dict) -> None:
        """An event of the coach: its `clock` reports bound the lead; the rest the patient hears,
        on the patient's own clock."""
        if event.get("type") == "clock":
            self.acknowledge(int(event["sensor_ms"]), float(event["t"]))
            return
        with self.lock:
            if "t" in event:
                event = dict(event, t=round(float(event["t"]) + self.offset, 3))
            self.patient.hear(event)

    def acknowledge(self, sensor_ms: int, coach_t: float) -> None:
        """The coach has taken in the sample this sensor sent with t_ms `sensor_ms`."""
        with self.lock:
            if not self.plugged or self._silent:
                return
            # A report of a line from before this flow (in flight across a silence, or from the
            # previous connection, whose counter ran further) says nothing about this one. Compared
            # as the counter's own integers: a time rebuilt from them could differ from the line's
            # by rounding, and the newest line's report must never look newer than the line.
            if not self._flow_start_ms <= sensor_ms <= self._written_ms:
                return
            t = self._t_ms_origin + sensor_ms / 1000.0
            if self.acked_t is None or t > self.acked_t:
                self.acked_t = t
            self.offset = t - coach_t

    # -- writing ---------------------------------------------------------------------------
    def write_raw(self, data: bytes) -> None:
        """Inject bytes (garbage tests) into the line, after what is waiting."""
        with self.lock:
            if self._master is not None:
                self._backlog += data
                self._send()

    def _send(self) -> None:
        """Write what the port will take. A short write leaves the rest of the line for the next
        turn, so the coach never sees a line cut; when nobody reads the port for long, whole old
        lines are dropped, as a sensor's full output buffer would drop them."""
        if self._master is None or not self._backlog:
            return
        try:
            written = os.write(self._master, self._backlog)
        except BlockingIOError:
            written = 0
        except OSError:
            return  # unplugged under us
        del self._backlog[:written]
        if written:
            now = time.monotonic()
            if now - self._last_write > STALL_S and not self._silent:
                self.stalls.append((self._last_write, now))
            self._last_write = now
        if len(self._backlog) > MAX_BACKLOG:
            head = self._backlog.find(b"\n") + 1 if written else 0   # a started line is finished
            cut = self._backlog.find(b"\n", len(self._backlog) - MAX_BACKLOG // 2) + 1
            if cut > head:
                del self._backlog[head:cut]

    def _due(self, elapsed_wall: float) -> float:
        """The patient time to reach this turn: the wall clock times the speed, held within
        LEAD_S of the coach's report when the coach reports."""
        flowing = self.plugged and not self._silent
        if not flowing or self.acked_t is None:
            return self.t + elapsed_wall          # real time
        return max(self.t, min(self.t + elapsed_wall * self.speed, self.acked_t + LEAD_S))

    def run(self) -> None:
        """Write samples until stop(): at `rate_hz` of patient time, on its own grid."""
        step = 1.0 / self.rate_hz
        wall = time.monotonic()
        while not self._stop.is_set():
            if self.listen is not None:
                self.listen()   # in this thread: hearing never competes with writing
            now = time.monotonic()
            with self.lock:
                self.t = self._due(now - wall)
                wall = now
                while self._next_sample * step <= self.t:
                    self._sample(self._next_sample * step)
                    self._next_sample += 1
                self._send()
                held = self.acked_t is not None and self.t >= self.acked_t + LEAD_S - 1e-9
            wait = POLL_S if held or self._backlog else \
                max(0.0, (self._next_sample * step - self.t) / (self.speed if self.acked_t is not None else 1.0))
            self._stop.wait(min(max(wait, POLL_S), 0.05))

    def _sample(self, t: float) -> None:
        value = self.patient.pressure(t)
        if self._master is None or self._silent:
            return  # the patient lives on; nothing reaches the coach
        t_ms = self._t_ms(t) % 2 ** 32
        line = f"{value:.2f}\n" if self.bare else f"{t_ms},{value:.2f}\n"
        if self.garbage_every_s and t >= self._next_garbage and self.garbage:
            self._next_garbage = t + self.garbage_every_s
            self._backlog += self.garbage[int(t) % len(self.garbage)]
        self._backlog += line.encode()
        self._written_ms = t_ms

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="pty-sensor", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self.unplug()
