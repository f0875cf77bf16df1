"""Event and trace files: JSON lines (CONTRACT section 5) and trace CSV (section 4)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from coach.errors import UserError


def _open_for_writing(path: str):
    if path == "-":
        return sys.stdout, False
    try:
        return open(path, "w", encoding="utf-8", newline=""), True
    except OSError as exc:
        raise UserError(f"cannot write '{path}': {exc.strerror}") from None


def _take_stdout():
    """Standard output for the events alone: its file descriptor is duplicated for them, and
    descriptor 1 then points at standard error, so whatever else would print there (a
    library's stray print from any thread, even from C) cannot break a line of JSON.
    Under a test's capture (no real descriptor 1) the captured stream is used as it is."""
    try:
        real = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        return sys.stdout, False
    sys.stdout.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(events_fd, "w", encoding="utf-8", newline=""), True


class EventWriter:
    """One JSON object per line, flushed per line so a reader (or a crash) loses nothing."""

    def __init__(self, path: str):
        self._file, self._owned = _take_stdout() if path == "-" else _open_for_writing(path)

    def write(self, event: dict) -> None:
        self._file.write(json.dumps(event, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()


class TraceWriter:
    """The session's samples as `t,mmhg,cue`, so `rugcoach analyze` can re-examine it."""

    def __init__(self, path: str):
        self._file, self._owned = _open_for_writing(path)
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(["t", "mmhg", "cue"])

    def write(self, t: float, mmhg: float, cue: str = "") -> None:
        self._csv.writerow([f"{t:.3f}", f"{mmhg:.2f}", cue])

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()


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
