"""The guided two-point calibration of the pressure sensor, as pure logic fed with samples.

Step 1, zero: the bladder is open to the air; the reading must be steady for ZERO_STEADY_S.
Step 2, span: the therapist pumps the bladder to a pressure read on the PBU's own dial (40 mmHg
by default) and holds it; holding it steady for SPAN_STEADY_S is the confirmation (no screen, no
buttons). The result is an offset (the zero reading) and a gain (mmHg per sensor unit), refused
when it is implausible for the sensor's unit.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

KPA_TO_MMHG = 7.500617
ZERO_STEADY_S = 3.0
SPAN_STEADY_S = 5.0
STEP_TIMEOUT_S = 120.0
# the pressure pumped to in step 2 unless the technician names another: the middle of the PBU's
# dial, and the pressure most exercises start from
DEFAULT_SPAN_MMHG = 40.0


@dataclass(frozen=True)
class Calibration:
    unit: str
    offset: float      # sensor reading at 0 mmHg
    gain: float        # mmHg per sensor unit
    span_mmhg: float
    span_reading: float


class CalibrationError(Exception):
    pass


def check_plausible(cal: Calibration) -> None:
    """Raise CalibrationError with a clear reason when the result cannot be right."""
    if cal.gain <= 0:
        raise CalibrationError("the reading went down when the pressure went up: is the tube on "
                               "the right port of the sensor?")
    if cal.unit in ("mmHg", "kPa"):
        nominal = KPA_TO_MMHG if cal.unit == "kPa" else 1.0
        if not 0.8 <= cal.gain / nominal <= 1.25:
            raise CalibrationError(f"the sensor reads {cal.gain / nominal:.2f} times the dial: more "
                                   "than 20% off; check the tube for leaks and the dial reading")
        if abs(cal.offset * nominal) > 10:
            raise CalibrationError(f"the zero reading is {cal.offset * nominal:.1f} mmHg: more than "
                                   "10 mmHg; was the bladder open to the air?")
    elif cal.gain > 1.0:
        raise CalibrationError(f"only {cal.span_reading - cal.offset:.0f} counts for "
                               f"{cal.span_mmhg:g} mmHg: coarser than 1 mmHg per count; check the "
                               "sensor's supply and wiring")


class CalibrationGuide:
    """Feed (t, reading); read `step` ('zero', 'span', 'done', 'failed') and `prompts`."""

    def __init__(self, unit: str, span_mmhg: float = 40.0):
        self.unit = unit
        self.span_mmhg = span_mmhg
        self.step = "zero"
        self.prompts: list[str] = ["calibrate.zero"]
        self.result: Calibration | None = None
        self.error: str | None = None
        self._window: deque[tuple[float, float]] = deque()
        self._step_started: float | None = None
        self._noise: float | None = None
        self._zero: float | None = None

    def _steady(self, t: float, seconds: float) -> float | None:
        """The mean of the last `seconds` if the reading was steady over them, else None."""
        if t - self._window[0][0] < seconds:
            return None
        values = [v for _, v in self._window]
        spread = max(values) - min(values)
        allowed = max(6 * (self._noise or 0.0), self._resolution())
        return statistics.fmean(values) if spread <= allowed else None

    def _resolution(self) -> float:
        return {"mmHg": 1.0, "kPa": 1.0 / KPA_TO_MMHG}.get(self.unit, 3.0)

    def feed(self, t: float, reading: float) -> None:
        if self.step in ("done", "failed"):
            return
        if self._step_started is None:
            self._step_started = t
        window = ZERO_STEADY_S if self.step == "zero" else SPAN_STEADY_S
        self._window.append((t, reading))
        while self._window[0][0] < t - window:
            self._window.popleft()
        if self._noise is None and t - self._step_started >= 1.0:
            values = [v for _, v in self._window]
            diffs = [abs(b - a) for a, b in zip(values, values[1:])]
            self._noise = statistics.median(diffs) if diffs else 0.0
        if t - self._step_started > STEP_TIMEOUT_S:
            self._fail("no steady pressure within two minutes")
            return
        steady = self._steady(t, window)
        if steady is None:
            return
        if self.step == "zero":
            self._zero = steady
            self.step, self._step_started = "span", t
            self._window.clear()
            self.prompts.append("calibrate.span")
            return
        zero = self._zero
        if zero is None or abs(steady - zero) < 10 * max(self._resolution(), self._noise or 0.0):
            return  # still at zero: the therapist has not pumped yet
        cal = Calibration(self.unit, zero, self.span_mmhg / (steady - zero),
                          self.span_mmhg, steady)
        try:
            check_plausible(cal)
        except CalibrationError as exc:
            self._fail(str(exc))
            return
        self.result, self.step = cal, "done"
        self.prompts.append("calibrate.done")

    def _fail(self, reason: str) -> None:
        self.error, self.step = reason, "failed"
        self.prompts.append("calibrate.failed")
