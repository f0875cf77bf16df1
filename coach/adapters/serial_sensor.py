"""The PBU sensor on a serial line (CONTRACT section 3).

A reader thread reads lines and hands parsed samples to the main loop through a queue (the
Klipper way: the serial port never blocks the coach). Parsing is a pure function, tested alone.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time

from coach.errors import DeviceError

log = logging.getLogger(__name__)

MAX_LINE = 64            # no valid sample line is longer; longer input is garbage
MAX_MMHG = 400.0         # a PBU reads 0-200 mmHg; beyond this a value is absurd
WRAP = 2 ** 32


def parse_line(line: bytes) -> tuple[int | None, float] | None:
    """`<pressure>` or `<t_ms>,<pressure>` -> (t_ms or None, pressure); None for anything else.

    Device messages (`#...`) are not samples either; the caller logs them."""
    if len(line) > MAX_LINE:
        return None
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not text or text.startswith("#"):
        return None
    parts = text.split(",")
    try:
        if len(parts) == 1:
            t_ms, value = None, float(parts[0])
        elif len(parts) == 2:
            if not parts[0].strip().isdigit():
                return None
            t_ms, value = int(parts[0]), float(parts[1])
            if t_ms >= WRAP:
                return None
        else:
            return None
    except ValueError:
        return None
    if not math.isfinite(value) or not -50.0 <= value <= MAX_MMHG:
        return None
    return t_ms, value


class SensorClock:
    """Session seconds from the sensor's `t_ms` (unwrapping 2^32), else from the host clock."""

    def __init__(self):
        self._origin: int | None = None
        self._last: int | None = None
        self._offset = 0
        self._host_origin = time.monotonic()

    def seconds(self, t_ms: int | None) -> float:
        if t_ms is None:
            return time.monotonic() - self._host_origin
        if self._origin is None:
            self._origin = self._last = t_ms
        if t_ms < self._last and self._last - t_ms > WRAP // 2:
            self._offset += WRAP  # the counter wrapped around
        self._last = t_ms
        return (t_ms + self._offset - self._origin) / 1000.0


class SerialSensor:
    """Opens the port (a device path or any pyserial URL) and reads samples on a thread."""

    def __init__(self, port: str, baudrate: int = 115200):
        import serial

        self.port = port
        self.clock = SensorClock()
        self.samples: queue.Queue = queue.Queue(maxsize=10000)
        self.bad_lines = 0
        self._last_warning = 0.0
        self._stop = threading.Event()
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, timeout=0.2)
        except (serial.SerialException, ValueError) as exc:
            reason = "does not exist" if "No such file" in str(exc) or "could not open" in str(exc) else str(exc)
            raise DeviceError(f"serial port '{port}' {reason}: check the sensor's USB cable, "
                              "or give --port DEVICE (e.g. /dev/ttyACM0)") from None
        self._thread = threading.Thread(target=self._read, name="serial-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import serial

        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                log.warning("sensor read failed: %s", exc)
                self.samples.put(None)
                return
            if not chunk:
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            if len(buffer) > MAX_LINE * 4:
                self._bad()  # a long run without a newline: garbage, dropped
                buffer = b""
            for line in lines:
                self._handle(line)

    def _handle(self, line: bytes) -> None:
        if line.lstrip().startswith(b"#"):
            log.info("sensor says: %s", line.decode("ascii", "replace").strip())
            return
        parsed = parse_line(line)
        if parsed is None:
            if line.strip():
                self._bad()
            return
        t_ms, value = parsed
        self.samples.put((self.clock.seconds(t_ms), value))

    def _bad(self) -> None:
        self.bad_lines += 1
        now = time.monotonic()
        if now - self._last_warning > 5.0:
            self._last_warning = now
            log.warning("skipped unreadable sensor input (%d lines so far)", self.bad_lines)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._serial.close()
