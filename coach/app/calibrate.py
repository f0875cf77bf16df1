"""`rugcoach calibrate`: the two-point sensor calibration, spoken, for a box without a screen."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from coach.adapters.audio import open_sink
from coach.adapters.serial_sensor import SerialSensor, Units
from coach.app.wiring import make_sounds
from coach.config import calibration_store
from coach.config.protocols import Library
from coach.config.settings import load_config
from coach.core.calibration import CalibrationGuide
from coach.core.voice import sentences
from coach.errors import UserError

log = logging.getLogger("rugcoach")


def run_calibration(port: str | None, unit: str | None, span: float = 40.0, audio: str | None = None,
                    config_path: str | None = None, out: Path | None = None) -> int:
    config = load_config(config_path)
    port = port or config.port
    if not port:
        raise UserError("no sensor given: use --port DEVICE (e.g. /dev/ttyACM0)", exit_code=2)
    unit = unit or config.unit
    if not 5.0 <= span <= 150.0:
        raise UserError(f"--span {span:g} is out of range (5 to 150 mmHg; 40 is usual)", exit_code=2)
    phrases = Library().phrases
    texts = {key: phrases[key][0].format(n=f"{span:g}") for key in
             ("calibrate.zero", "calibrate.span", "calibrate.done", "calibrate.failed")}
    sink = open_sink(audio or config.audio, required=audio is not None)
    sounds = make_sounds(config)
    sounds.prepare([part for text in texts.values() for part in sentences(text)])
    sensor = SerialSensor(port, config.baudrate, Units.uncalibrated(unit))
    guide = CalibrationGuide(unit, span)
    def say(key: str) -> None:
        text = texts[key]
        print(text, file=sys.stderr)  # for the technician at a terminal, if there is one
        for part in sentences(text):
            sink.play(0.0, sounds.samples(part))

    spoken = 0
    sink.start()
    try:
        while guide.step not in ("done", "failed"):
            while spoken < len(guide.prompts):
                say(guide.prompts[spoken])
                spoken += 1
            batch = sensor.read(timeout=5.0)
            if not batch:
                raise UserError(f"no readings from the sensor on '{port}' for 5 s: check the "
                                "cable and the sensor's baud rate", exit_code=3)
            for reading in batch:
                guide.feed(reading.t, reading.mmhg)
                if guide.step in ("done", "failed"):
                    break
        say(guide.prompts[-1])
        if sink.realtime:
            time.sleep(2.5)
    finally:
        sensor.close()
        sink.close()
    if guide.result is None:
        raise UserError(f"calibration refused: {guide.error}; nothing was stored", exit_code=2)
    path = calibration_store.save(guide.result, out or (
        Path(config.calibration) if config.calibration else None))
    cal = guide.result
    print(f"calibration stored in {path}: zero {cal.offset:.3f} {unit}, {cal.gain:.5f} mmHg per "
          f"{unit} ({cal.span_reading:.3f} {unit} = {cal.span_mmhg:g} mmHg)", file=sys.stderr)
    return 0
