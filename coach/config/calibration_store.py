"""Where the sensor's calibration lives: the box's state directory, readable by the service only."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from coach.api.status import CalibrationInfo
from coach.config.paths import state_dir
from coach.core.calibration import Calibration
from coach.errors import UserError


def default_path() -> Path:
    return state_dir() / "calibration.json"


def save(calibration: Calibration, path: Path | None = None) -> Path:
    path = path or default_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {**asdict(calibration), "date": datetime.now(UTC).isoformat(timespec="seconds")}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # 0600
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot save the calibration to '{path}': {exc.strerror}") from None
    return path


def load(path: Path | None = None) -> Calibration | None:
    path = path or default_path()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Calibration(unit=data["unit"], offset=float(data["offset"]), gain=float(data["gain"]),
                           span_mmhg=float(data["span_mmhg"]), span_reading=float(data["span_reading"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"calibration file '{path}' is damaged ({exc}); run 'rugcoach calibrate' "
                        "again", exit_code=2) from None


def info(path: Path | None = None) -> CalibrationInfo | None:
    """The stored calibration as the console and the reports show it (None: none stored, or
    one that cannot be read: `load` says why where it matters)."""
    path = path or default_path()
    try:
        data = json.loads(path.read_text())
        return CalibrationInfo(data.get("date"), str(data["unit"]), float(data["offset"]), float(data["gain"]),
                               float(data["span_mmhg"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
