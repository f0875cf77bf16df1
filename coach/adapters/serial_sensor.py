"""The PBU sensor on a serial line (CONTRACT section 3).

Pure parts, tested alone: `LineAssembler` (bytes -> complete lines -> samples, counting the bad
ones), `Units` (mmHg, kPa, or raw ADC counts with a two-point calibration) and `SensorClock` (the
sensor's `t_ms`, unwrapped at 2^32 and re-anchored when the counter restarts).

`SerialSensor` is the edge: a reader thread (the Klipper way: the port never blocks the coach)
that opens the port, hands samples to the main loop through a queue, and when the device is
unplugged closes it, backs off and reopens the same path, so a new device node behind the
same udev symlink is found.
"""

from __future__ import annotations

import errno
import grp
import logging
import math
import os
import pwd
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from coach.api.status import SensorStatus
from coach.core.calibration import KPA_TO_MMHG, Calibration
from coach.errors import DeviceError

log = logging.getLogger(__name__)

MAX_LINE = 64            # no valid sample line is longer; longer input is garbage
MAX_MMHG = 400.0         # a PBU reads 0-200 mmHg; beyond this a value is absurd
MIN_MMHG = -50.0
WRAP = 2 ** 32


def parse_line(line: bytes) -> tuple[int | None, float] | None:
    """`<value>` or `<t_ms>,<value>` -> (t_ms or None, value); None for anything else.

    Device messages (`#...`) are not samples either; the caller logs them."""
    if len(line) > MAX_LINE:
        return None
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text or text[0] == "#":
        return None
    head, sep, tail = text.partition(",")
    try:
        if not sep:
            t_ms, value = None, float(head)
        else:
            if not head.isdigit() or "," in tail:
                return None
            t_ms, value = int(head), float(tail)
            if t_ms >= WRAP:
                return None
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return t_ms, value


class LineAssembler:
    """Bytes in, complete lines out. A line may arrive in pieces; a run of bytes without a
    newline longer than any real line is garbage and dropped; the first line after the port
    opened may be half a line and is dropped too."""

    def __init__(self):
        self._buffer = b""
        self._overflowing = False
        self._skip_first = True
        self.bad = 0
        self.messages: list[str] = []

    def restart(self) -> None:
        """The port was (re)opened: the next line may be a fragment."""
        self._buffer, self._overflowing, self._skip_first = b"", False, True

    def feed(self, data: bytes) -> list[tuple[int | None, float]]:
        out = []
        *lines, rest = (self._buffer + data).split(b"\n")
        for line in lines:
            if self._overflowing:   # the tail of an overlong line
                self._overflowing = False
                continue
            if self._skip_first:
                self._skip_first = False
                continue
            stripped = line.strip()
            if not stripped:
                continue
            if stripped[:1] == b"#":
                self.messages.append(stripped.decode("ascii", "replace"))
                continue
            parsed = parse_line(stripped)
            if parsed is None:
                self.bad += 1
            else:
                out.append(parsed)
        if len(rest) > MAX_LINE:  # no real line is this long: garbage, counted once, dropped
            if not self._overflowing:
                self.bad += 1
            self._overflowing, rest = True, b""
        self._buffer = rest
        return out


class Reading(NamedTuple):
    """One sample as the main loop gets it: session seconds and mmHg, and the sensor's own
    t_ms when the line carried one (`run --clock-events` reports it back, for tests)."""

    t: float
    mmhg: float
    sensor_ms: int | None = None
    value: float | None = None    # as the sensor sent it, before its unit and calibration


@dataclass(frozen=True)
class Units:
    """What the sensor's numbers mean, and how to turn them into mmHg.

    mmHg and kPa sensors may carry a calibration correction (offset and gain from
    `rugcoach calibrate`); raw ADC counts need one (counts at zero and at a known pressure)."""

    unit: str = "mmHg"          # mmHg | kPa | raw
    offset: float = 0.0         # in the sensor's unit: subtracted first (the zero reading)
    gain: float = 1.0           # mmHg per sensor unit after the offset (kPa: 7.5006 x correction)

    checked: bool = True        # False while calibrating: raw readings pass unjudged

    @classmethod
    def for_unit(cls, unit: str, calibration: Calibration | None = None) -> Units:
        if calibration is not None:
            return cls(unit, calibration.offset, calibration.gain)
        return cls(unit, 0.0, KPA_TO_MMHG if unit == "kPa" else 1.0)

    @classmethod
    def uncalibrated(cls, unit: str) -> Units:
        return cls(unit, 0.0, 1.0, checked=False)

    def to_mmhg(self, value: float) -> float:
        return (value - self.offset) * self.gain

    def plausible(self, mmhg: float) -> bool:
        return not self.checked or MIN_MMHG <= mmhg <= MAX_MMHG


class SensorClock:
    """Session seconds from the sensor's `t_ms` (unwrapping 2^32), else from the host clock.

    A counter that jumps back by less than half the range did not wrap: the sensor restarted
    (it lost power with the cable). The clock then re-anchors at `resume_at`, the session time
    the host has counted meanwhile, so the session clock never runs backwards."""

    def __init__(self, host_clock=time.monotonic):
        self._host = host_clock
        self._host_origin = host_clock()
        self._origin_ms: int | None = None
        self._base_s = 0.0
        self._last_ms: int | None = None
        self._offset = 0
        self.restarts = 0

    def seconds(self, t_ms: int | None, resume_at: float | None = None) -> float:
        if t_ms is None:
            return self._host() - self._host_origin
        last = self._last_ms
        if self._origin_ms is None or last is None:
            self._origin_ms = t_ms
            self._base_s = resume_at or 0.0
        elif t_ms < last:
            if last - t_ms > WRAP // 2:
                self._offset += WRAP  # the counter wrapped around
            else:
                self.restarts += 1
                self._origin_ms, self._offset = t_ms, 0
                # never back in time, whatever the host counted (a stale estimate stays stale)
                self._base_s = max(resume_at, self._last_s) if resume_at is not None else self._last_s
        self._last_ms = t_ms
        self._last_s = self._base_s + (t_ms + self._offset - self._origin_ms) / 1000.0
        return self._last_s


def open_problem(port: str, exc: Exception) -> str:
    """What is really wrong when a serial port cannot be opened, in one line that says what to do."""
    code = getattr(exc, "errno", None)
    if code is None and isinstance(exc.__context__, OSError):
        code = exc.__context__.errno
    if code == errno.ENOENT:
        return (f"serial port '{port}' does not exist: check the sensor's USB cable, or give --port DEVICE "
                "(e.g. /dev/ttyACM0; ls /dev/serial/by-id/)")
    if code == errno.EACCES:
        user = _name(pwd.getpwuid, os.geteuid())
        group = _device_group(port)
        return (f"permission denied on serial port '{port}': user '{user}' may not read it; it belongs "
                f"to group '{group}' (sudo usermod -aG {group} {user}, then log in again)")
    if code == errno.EBUSY:
        holders = _holders(port)
        who = f" by {', '.join(holders)}" if holders else ""
        return (f"serial port '{port}' is busy: it is held open{who}; stop that program "
                "(a second rugcoach, a serial terminal, ModemManager)")
    if code == errno.EPERM:
        return (f"serial port '{port}' is refused by the service's device rules (DevicePolicy/DeviceAllow "
                "in rugcoach.service allow ttyACM and ttyUSB devices): is the sensor one of those?")
    return f"cannot open serial port '{port}': {exc}"


def _name(lookup, number: int) -> str:
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _device_group(port: str) -> str:
    try:
        return _name(grp.getgrgid, os.stat(port).st_gid)
    except OSError:
        return "dialout"


def _holders(port: str) -> list[str]:
    """The processes that have the device open, as 'NAME (pid N)', where /proc lets us see."""
    try:
        target = os.path.realpath(port)
    except OSError:
        return []
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")):
                name = open(f"/proc/{pid}/comm").read().strip()
                found.append(f"{name} (pid {pid})")
        except OSError:
            continue
    return found


class SerialSensor:
    """Reads the sensor on a thread; reopens the same path when the device comes back.

    Samples reach the main loop in batches (`read`). When the lines carry the sensor's own t_ms,
    the reader waits BATCH_S between reads: the samples keep their exact times, the coach hears
    them at most 50 ms later, and the box wakes 20 times a second instead of 100 (a line at a
    time), which is most of what an idle daemon costs. Bare lines are timed by the host clock
    on arrival, so they are read as they come. The idle daemon, which only watches for somebody
    lying down, sets a longer `batch_s`. A batch spans at most `batch_s` of the sensor's own time
    (a simulated sensor at 300x is read 300 times as often), and a wait never lets more than
    FILL_BYTES pile up: the kernel holds only 4 KB of a tty's input."""

    RETRY_S = 0.5
    BATCH_S = 0.05
    FILL_BYTES = 1024

    def __init__(self, port: str, baudrate: int = 115200, units: Units | None = None,
                 required: bool = True):
        import serial

        self._serial_module = serial
        self.port = port
        self.baudrate = baudrate
        self.units = units or Units()
        self.clock = SensorClock()
        self.samples: queue.Queue = queue.Queue(maxsize=2000)   # of batches (lists of samples)
        self.received = 0
        self.batch_s = self.BATCH_S
        self.assembler = LineAssembler()
        self.connected = False
        self.since: str | None = None   # when it connected or went away (UTC ISO), for the console
        self.resume_at: float | None = None   # set by the runner: the session time now
        self._last_warning = 0.0
        self._stop = threading.Event()
        # For a command run by hand the first open must succeed (a wrong port is a user error);
        # the daemon waits for a sensor that is not plugged in yet.
        self.problem: str | None = None   # why the port cannot be opened now, said once
        self._ever_connected = False   # the first connection is "connected", the next ones "again"
        self._serial = self._open()
        if self._serial is not None:
            self._say_connected()
        elif not required:
            log.warning("no sensor on %s yet (%s); waiting for it", port, self.problem)
        else:
            raise DeviceError(self.problem or f"cannot open serial port '{port}'")
        self._thread = threading.Thread(target=self._run, name="serial-reader", daemon=True)
        self._thread.start()

    def _say_connected(self) -> None:
        log.info("sensor connected %son %s", "again " if self._ever_connected else "", self.port)
        self._ever_connected = True

    @property
    def bad_lines(self) -> int:
        return self.assembler.bad

    def status(self) -> SensorStatus:
        """Connected or not (and why not), what came: for the console and `rugcoach status`."""
        return SensorStatus(self.port, self.connected, self.received, self.assembler.bad, self.problem,
                            self.clock.restarts, self.since)

    def read(self, timeout: float) -> list[Reading]:
        """The next batch of readings, waiting up to `timeout`; [] if none came."""
        try:
            return self.samples.get(timeout=timeout)
        except queue.Empty:
            return []

    def _open(self):
        serial = self._serial_module
        try:
            handle = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.2)
        except (serial.SerialException, ValueError, OSError) as exc:
            if "://" in self.port and not isinstance(exc, serial.SerialException):
                raise DeviceError(f"serial port '{self.port}': {exc}") from None
            problem = open_problem(self.port, exc)
            if problem != self.problem and self.problem is not None:
                log.warning("sensor on %s: %s", self.port, problem)   # a new reason: said once
            self.problem = problem
            return None
        self.problem = None
        self.assembler.restart()
        self.connected = True
        self.since = _now_iso()
        return handle

    def _run(self) -> None:
        serial = self._serial_module
        last_read, last_t = time.monotonic(), None
        while not self._stop.is_set():
            if self._serial is None:
                if self._stop.wait(self.RETRY_S):
                    return
                self._serial = self._open()
                if self._serial is not None:
                    self._say_connected()
                continue
            try:
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # unplugged: close, back off, reopen the same path (maybe a new device node)
                log.warning("sensor disconnected (%s); waiting for it to come back", exc)
                self._close_port()
                continue
            now = time.monotonic()
            newest = self._handle(chunk) if chunk else None
            if newest is not None:
                wall = max(now - last_read, 1e-3)
                speed = max(1.0, (newest - last_t) / wall) if last_t is not None else 1.0
                self._stop.wait(min(self.batch_s / speed, self.FILL_BYTES * wall / len(chunk)))
            last_read, last_t = now, newest

    def _handle(self, chunk: bytes) -> float | None:
        """Parse and hand over a chunk; the session time of its last sample when the samples
        carried the sensor's t_ms, else None."""
        before = self.assembler.bad
        batch, timed = [], False
        for t_ms, value in self.assembler.feed(chunk):
            mmhg = self.units.to_mmhg(value)
            if not self.units.plausible(mmhg):
                self.assembler.bad += 1
                continue
            timed = t_ms is not None
            batch.append(Reading(self.clock.seconds(t_ms, self.resume_at), mmhg, t_ms, value))
        if batch:
            self.received += len(batch)
            self.samples.put(batch)
        for message in self.assembler.messages:
            log.info("sensor says: %s", message)
        self.assembler.messages.clear()
        if self.assembler.bad > before:
            now = time.monotonic()
            if now - self._last_warning > 5.0:
                self._last_warning = now
                log.warning("skipped unreadable sensor input (%d lines so far)", self.assembler.bad)
        return batch[-1][0] if timed else None

    def _close_port(self) -> None:
        handle, self._serial = self._serial, None
        if self.connected:
            self.since = _now_iso()
        self.connected = False
        if handle is not None:
            try:
                handle.close()
            except Exception:  # closing a vanished device can fail in several ways
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._close_port()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
