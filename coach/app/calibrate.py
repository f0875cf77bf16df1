"""`rugcoach calibrate`: the two-point sensor calibration, spoken, for a box without a screen."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from coach.adapters.audio import open_sink
from coach.adapters.serial_sensor import SerialSensor, Units
from coach.app.wiring import make_sounds
from coach.config import calibration_store
from coach.config.protocols import Library
from coach.config.settings import load_config
from coach.core.calibration import STEP_TIMEOUT_S, Calibration, CalibrationGuide
from coach.core.events import Said
from coach.core.voice import Line, sentences
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
    texts = prompt_texts(span)
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


class SpokenCalibration:
    """The same calibration run by the daemon, on the sensor it holds: asked for over the control
    socket (the console, or `rugcoach calibrate` while the service runs), fed the sensor's values
    as sent from the daemon's main loop. The prompts are spoken and also told to `hear` as `say`
    events, so a client can show them."""

    def __init__(self, unit: str, span: float, sounds, sink, hear: Callable[[dict], None]):
        self.guide = CalibrationGuide(unit, span)
        self.span = span
        self.sounds = sounds
        self.sink = sink
        self.hear = hear
        self.texts = prompt_texts(span)
        self._spoken = 0
        self.sink.start()

    @property
    def result(self) -> Calibration | None:
        return self.guide.result

    @property
    def error(self) -> str | None:
        return self.guide.error

    def feed(self, t: float, value: float) -> bool:
        """One sample; True when the calibration is over (stored or failed)."""
        self._speak(t)
        self.guide.feed(t, value)
        over = self.guide.step in ("done", "failed")
        if over:
            self._speak(t)
            self.sink.close(max_wait_s=5.0)   # the last prompt is heard to its end
        return over

    def _speak(self, t: float) -> None:
        while self._spoken < len(self.guide.prompts):
            key = self.guide.prompts[self._spoken]
            self._spoken += 1
            for index, part in enumerate(sentences(self.texts[key])):
                self.sink.play(0.0, self.sounds.samples(Line(part, key, 0, index)))
                self.hear(Said(round(t, 3), part, key).as_dict())

    def status(self) -> dict:
        return {"step": self.guide.step, "span_mmhg": self.span}


def prompt_texts(span: float) -> dict[str, str]:
    phrases = Library().phrases
    return {key: phrases[key][0].format(n=f"{span:g}") for key in
            ("calibrate.zero", "calibrate.span", "calibrate.done", "calibrate.failed")}


def calibrate_through_daemon(client, span: float) -> int:
    """`rugcoach calibrate` while the service holds the sensor: a thin client of its socket.
    Prints the prompts as the daemon speaks them; exit 0 when stored, 2 when refused."""
    client.subscribe()
    client.call("calibrate", span_mmhg=span)
    for message in client.notifications(timeout=STEP_TIMEOUT_S * 2 + 30):
        event = message.get("params", {}) if message.get("method") == "event" else {}
        if event.get("type") == "say":
            print(event["text"], file=sys.stderr)
        elif event.get("type") == "daemon" and event.get("state") == "calibration_done":
            print("calibration stored by the service, and in use", file=sys.stderr)
            return 0
        elif event.get("type") == "daemon" and event.get("state") == "calibration_failed":
            raise UserError(f"calibration refused: {event.get('outcome')}; nothing was stored", exit_code=2)
    raise UserError("the service said nothing for too long: calibration not finished", exit_code=3)
