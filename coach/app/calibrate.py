"""`rugcoach calibrate`: the two-point sensor calibration, spoken, for a box without a screen."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from coach.adapters.audio import open_sink
from coach.adapters.serial_sensor import SerialSensor, Units
from coach.api import methods as api
from coach.api.status import CalibrationStatus
from coach.app.wiring import make_sounds
from coach.config import calibration_store
from coach.config.protocols import Library
from coach.config.settings import load_config
from coach.core.calibration import DEFAULT_SPAN_MMHG, STEP_TIMEOUT_S, Calibration, CalibrationGuide
from coach.core.events import Said
from coach.core.voice import Priority, SpeechTimeline, sentences
from coach.errors import UserError

log = logging.getLogger("rugcoach")


def run_calibration(port: str | None, unit: str | None, span: float = 40.0, audio: str | None = None,
                    config_path: str | None = None, out: Path | None = None) -> int:
    """`rugcoach calibrate` with no service holding the sensor: this command opens the port."""
    config = load_config(config_path)
    port = port or config.port
    if not port:
        raise UserError("no sensor given: use --port DEVICE (e.g. /dev/ttyACM0)", exit_code=2)
    unit = unit or config.unit
    if not 5.0 <= span <= 150.0:
        raise UserError(f"--span {span:g} is out of range (5 to 150 mmHg; 40 is usual)", exit_code=2)
    sink = open_sink(audio or config.audio, required=audio is not None)
    sounds = make_sounds(config)
    sensor = SerialSensor(port, config.baudrate, Units.uncalibrated(unit))
    # for the technician at a terminal, if there is one: each prompt whole, as it is given
    calibration = SpokenCalibration(unit, span, sounds, sink, hear=lambda event: None,
                                    show=lambda text: print(text, file=sys.stderr, flush=True))
    try:
        calibration.begin(0.0)
        over = False
        while not over:
            batch = sensor.read(timeout=5.0)
            if not batch:
                raise UserError(f"no readings from the sensor on '{port}' for 5 s: check the "
                                "cable and the sensor's baud rate", exit_code=3)
            for reading in batch:
                over = calibration.feed(reading.t, reading.mmhg)
                if over:
                    break
    finally:
        sensor.close()
        sink.close()
    if calibration.result is None:
        raise UserError(f"calibration refused: {calibration.error}; nothing was stored", exit_code=2)
    path = calibration_store.save(calibration.result, out or (
        Path(config.calibration) if config.calibration else None))
    cal = calibration.result
    print(f"calibration stored in {path}: zero {cal.offset:.3f} {unit}, {cal.gain:.5f} mmHg per "
          f"{unit} ({cal.span_reading:.3f} {unit} = {cal.span_mmhg:g} mmHg)", file=sys.stderr)
    return 0


class SpokenCalibration:
    """The two-point calibration (CalibrationGuide) with its spoken prompts, fed samples by whoever
    holds the sensor: the daemon's main loop (asked over the control socket: the console, or
    `rugcoach calibrate` while the service runs), or `rugcoach calibrate` itself.

    The prompts go through a speech timeline on the samples' clock, as the coach's sentences do:
    one sentence after the other, never over each other. Each sentence is told to `hear` as a
    `say` event when it starts; `show` gets each prompt whole when it is given."""

    def __init__(self, unit: str, span: float, sounds, sink, hear: Callable[[dict], None],
                 show: Callable[[str], None] = lambda text: None):
        self.guide = CalibrationGuide(unit, span)
        self.span = span
        self.sounds = sounds
        self.sink = sink
        self.hear = hear
        self.show = show
        self.texts = prompt_texts(span)
        self.voice = SpeechTimeline(sounds.duration)
        self._given = 0
        # every prompt ready before the first sample: nothing is synthesised between two of them
        # (for the usual span the daemon has them all from its start: see prompt_sentences)
        sounds.prepare(prompt_sentences(span))
        self.sink.start()

    @property
    def result(self) -> Calibration | None:
        return self.guide.result

    @property
    def error(self) -> str | None:
        return self.guide.error

    def begin(self, t: float) -> None:
        """The first prompt, before any sample (the valve is opened after it)."""
        self._give(t)

    def feed(self, t: float, value: float) -> bool:
        """One sample; True when the calibration is over (stored or failed) and its last prompt
        has been said."""
        if self.guide.step not in ("done", "failed"):
            self.guide.feed(t, value)
        self._give(t)
        return self.guide.step in ("done", "failed") and not self.voice.busy(t)

    def _give(self, t: float) -> None:
        while self._given < len(self.guide.prompts):
            key = self.guide.prompts[self._given]
            self._given += 1
            self.show(self.texts[key])
            self.voice.say(self.texts[key], Priority.SAFETY, key=key)
        for started in self.voice.poll(t):
            line = started.item.line
            self.sink.play(started.t, self.sounds.samples(line))
            self.hear(Said(round(started.t, 3), line.text, line.key or "").as_dict())

    def status(self) -> CalibrationStatus:
        return CalibrationStatus(self.guide.step, self.span)


def prompt_sentences(span: float = DEFAULT_SPAN_MMHG) -> list[str]:
    """The sentences the calibration's prompts are said in: the daemon synthesises them for the
    usual span at start, so a calibration asked over the socket makes its caller wait for none."""
    return [part for text in prompt_texts(span).values() for part in sentences(text)]


def prompt_texts(span: float) -> dict[str, str]:
    phrases = Library().phrases
    return {key: phrases[key][0].format(n=f"{span:g}") for key in
            ("calibrate.zero", "calibrate.span", "calibrate.done", "calibrate.failed")}


def calibrate_through_daemon(client, span: float) -> int:
    """`rugcoach calibrate` while the service holds the sensor: a thin client of its socket.
    Prints the prompts as the daemon speaks them; exit 0 when stored, 2 when refused."""
    client.subscribe()
    client.call(api.CALIBRATE, api.CalibrateParams(span))
    for message in client.notifications(timeout=STEP_TIMEOUT_S * 2 + 30):
        event = message.params if message.method == api.NOTIFY_EVENT else {}
        if event.get("type") == "say":
            print(event["text"], file=sys.stderr)
        elif event.get("type") == "daemon" and event.get("state") == "calibration_done":
            print("calibration stored by the service, and in use", file=sys.stderr)
            return 0
        elif event.get("type") == "daemon" and event.get("state") == "calibration_failed":
            raise UserError(f"calibration refused: {event.get('outcome')}; nothing was stored", exit_code=2)
    raise UserError("the service said nothing for too long: calibration not finished", exit_code=3)
