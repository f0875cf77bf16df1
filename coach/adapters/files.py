"""Event and trace files: JSON lines (CONTRACT section 5) and trace CSV (section 4)."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import sys
import time
from collections import deque
from pathlib import Path

from coach.errors import UserError

log = logging.getLogger(__name__)


def _open_for_writing(path: str, append: bool = False) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    try:
        return os.open(path, flags, 0o666)   # the umask decides (0077 under the unit)
    except OSError as exc:
        raise UserError(f"cannot write '{path}': {exc.strerror}") from None


def _take_stdout() -> tuple[int, bool]:
    """Standard output for the events alone: its file descriptor is duplicated for them, and
    descriptor 1 then points at standard error, so whatever else would print there (a
    library's stray print from any thread, even from C) cannot break a line of JSON."""
    sys.stdout.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    return events_fd, True


def _stdout_is_real() -> bool:
    try:
        return sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        return False   # a test's capture: no real descriptor 1


class LineFile:
    """Whole lines to a file descriptor, written with os.write, so it is known to the byte what
    reached the file. With `keep_when_full` (the daemon's files), what a full disk refuses
    (ENOSPC, EDQUOT) is kept in memory, up to MAX_PENDING_BYTES, and written when space returns,
    from the byte where it stopped: nothing lost and nothing written twice. Beyond the bound the
    oldest whole lines waiting are dropped (and counted), never part of a line. Without it (an
    export), a write that fails is an error at once."""

    MAX_PENDING_BYTES = 8 * 1024 * 1024
    RETRY_EVERY_S = 5.0   # while full, a write is tried again at most this often

    def __init__(self, fd: int, owned: bool, keep_when_full: bool = False, name: str = ""):
        self.fd, self.owned, self.keep_when_full, self.name = fd, owned, keep_when_full, name
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._first_done = 0   # bytes of the first pending line already in the file
        self.full = False      # the last write found the disk full
        self.dropped = 0       # lines dropped because the bound was reached while full
        self._tried_at = float("-inf")

    def put(self, line: str) -> None:
        data = line.encode("utf-8")
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self.full and time.monotonic() - self._tried_at < self.RETRY_EVERY_S:
            self._bound()
            return
        self.flush()

    @property
    def waiting(self) -> int:
        """Lines not (wholly) in the file yet."""
        return len(self._pending)

    def retry(self) -> None:
        """What waits, tried again if it is time (the main loop calls this while nothing is written)."""
        if self._pending and time.monotonic() - self._tried_at >= self.RETRY_EVERY_S:
            self.flush()

    def flush(self) -> bool:
        """Write what waits; True when nothing waits any more."""
        self._tried_at = time.monotonic()
        while self._pending:
            first = self._pending[0]
            try:
                done = os.write(self.fd, first[self._first_done:])
            except OSError as exc:
                if not self.keep_when_full or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                if not self.full:
                    log.error("the disk is full: %s cannot be written; %d line(s) kept in memory until "
                              "there is space", self.name or "a file", len(self._pending))
                self.full = True
                self._bound()
                return False
            self._first_done += done
            if self._first_done == len(first):
                self._pending.popleft()
                self._pending_bytes -= len(first)
                self._first_done = 0
        if self.full:
            log.info("space again: %s written up to date%s", self.name or "a file",
                     f" ({self.dropped} line(s) had to be dropped)" if self.dropped else "")
            self.full = False
        return True

    def _bound(self) -> None:
        """Over the bound: drop the oldest whole lines after the one being written."""
        while self._pending_bytes > self.MAX_PENDING_BYTES and len(self._pending) > 1:
            first = self._pending.popleft()
            dropped = self._pending.popleft()
            self._pending.appendleft(first)
            self._pending_bytes -= len(dropped)
            self.dropped += 1

    def close(self) -> None:
        try:
            self.flush()
        except OSError:
            pass   # closing: what could not be written now is reported by flush's log line
        if self.owned:
            os.close(self.fd)


class EventWriter:
    """One JSON object per line, each written to the file as it comes (a reader, or a crash,
    loses nothing). The daemon's events file is appended to (the story of a box survives its
    restarts) and kept through a full disk (LineFile); `-` is standard output."""

    def __init__(self, path: str, append: bool = False, keep_when_full: bool = False):
        if path == "-" and not _stdout_is_real():
            self._stream = sys.stdout   # under a test's capture: its stream, as it is
            self._lines = None
            return
        self._stream = None
        fd, owned = _take_stdout() if path == "-" else (_open_for_writing(path, append), True)
        self._lines = LineFile(fd, owned, keep_when_full, name=f"the events file {path}")

    @classmethod
    def to_stream(cls, stream) -> EventWriter:
        """Events into a text stream (a test's StringIO)."""
        writer = cls.__new__(cls)
        writer._stream, writer._lines = stream, None
        return writer

    @property
    def lines(self) -> LineFile | None:
        return self._lines

    def write(self, event: dict) -> None:
        line = json.dumps(event, ensure_ascii=False) + "\n"
        if self._lines is not None:
            self._lines.put(line)
        elif self._stream is not None:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()


class TraceWriter:
    """The session's samples as `t,mmhg,cue`, so `rugcoach analyze` can re-examine it. Lines
    are gathered and written every FLUSH_ROWS (a sample a line would be a system call each)."""

    FLUSH_ROWS = 50

    def __init__(self, path: str, keep_when_full: bool = False):
        self._lines = LineFile(_open_for_writing(path), True, keep_when_full, name=f"the trace {path}")
        self._rows: list[str] = ["t,mmhg,cue\n"]

    @property
    def lines(self) -> LineFile:
        return self._lines

    def write(self, t: float, mmhg: float, cue: str = "") -> None:
        self._rows.append(f"{t:.3f},{mmhg:.2f},{cue}\n")
        if len(self._rows) >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._lines.put("".join(self._rows))
            self._rows = []

    def close(self) -> None:
        self.flush()
        self._lines.close()


def read_trace(path: Path):
    """Yield (line_number, t, mmhg, cue) from a trace CSV; bad input is `FILE:LINE: problem`."""
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}", exit_code=2) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise UserError(f"{path}:1: the file is empty (expected the header 't,mmhg,cue')",
                            exit_code=2) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UserError(f"{path}:1: not a CSV file ({exc})", exit_code=2) from None
        columns = [name.strip().lower() for name in header]
        missing = [name for name in ("t", "mmhg") if name not in columns]
        if missing:
            raise UserError(f"{path}:1: missing column {', '.join(repr(m) for m in missing)} "
                            f"(the header must name t and mmhg, and may name cue)", exit_code=2)
        it, ip = columns.index("t"), columns.index("mmhg")
        ic = columns.index("cue") if "cue" in columns else None
        previous = None
        rows = 0
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                try:
                    t, mmhg = float(row[it]), float(row[ip])
                except (ValueError, IndexError):
                    raise UserError(f"{path}:{line}: t and mmhg must be numbers, got "
                                    f"{','.join(row)!r}", exit_code=2) from None
                if t != t or mmhg != mmhg or abs(t) == float("inf") or abs(mmhg) == float("inf"):
                    raise UserError(f"{path}:{line}: t and mmhg must be finite numbers", exit_code=2)
                if previous is not None and t <= previous:
                    raise UserError(f"{path}:{line}: time goes backwards or stands still "
                                    f"({t} after {previous}); t must increase", exit_code=2)
                cue = row[ic].strip() if ic is not None and ic < len(row) else ""
                if cue not in ("", "contract", "relax"):
                    raise UserError(f"{path}:{line}: unknown cue '{cue}' (allowed: contract, relax "
                                    "or empty)", exit_code=2)
                previous = t
                rows += 1
                yield line, t, mmhg, cue
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UserError(f"{path}:{reader.line_num}: not valid CSV ({exc})", exit_code=2) from None
        if rows == 0:
            raise UserError(f"{path}:2: no samples after the header", exit_code=2)
