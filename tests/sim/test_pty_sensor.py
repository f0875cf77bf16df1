"""The simulated sensor's bound on the patient's lead: the coach's reports are matched to the
lines they name, by the sensor's own counter, across silences and replugs."""

from __future__ import annotations

from coach.sim.pty_sensor import LEAD_S, PtySensor


class Flat:
    def hear(self, event):
        pass

    def pressure(self, t):
        return 70.0


def written(sensor, until):
    """Sample the grid up to patient time `until`, as the writer thread does."""
    step = 1.0 / sensor.rate_hz
    with sensor.lock:
        sensor.t = until
        while sensor._next_sample * step <= until:
            sensor._sample(sensor._next_sample * step)
            sensor._next_sample += 1


def test_the_report_of_the_newest_line_is_taken_after_a_replug_at_any_moment():
    """Found pinned beside a busy loop: after a replug at a moment off the sample grid, the
    coach's report of the newest line looked a fraction of a millisecond newer than the line,
    was refused, and the sensor waited for a report that could not come."""
    sensor = PtySensor(Flat(), rate_hz=50, speed=10)
    sensor.t = 3.0173
    sensor.plug()
    try:
        written(sensor, 5.0)
        newest = sensor._written_ms
        sensor.acknowledge(newest, coach_t=40.0)
        assert sensor.acked_t is not None and abs(sensor.acked_t - 5.0) < 0.001
        assert abs(sensor.offset - (5.0 - 40.0)) < 0.001, "the coach's clock mapped to the patient's"
        assert sensor._due(10.0) <= sensor.acked_t + LEAD_S, "never more than the lead ahead"
        sensor.acknowledge(newest + 20, coach_t=40.02)   # a line not written yet: not taken
        assert abs(sensor.acked_t - 5.0) < 0.001
    finally:
        sensor.stop()


def test_a_report_from_before_a_replug_or_a_silence_says_nothing_about_the_new_flow():
    sensor = PtySensor(Flat(), rate_hz=50, speed=10)
    sensor.plug()
    try:
        written(sensor, 30.0)
        old = sensor._written_ms                  # 30 000 on the first connection
        sensor.unplug()
        sensor.t = 33.0
        sensor.plug()                              # the counter restarts from 0
        written(sensor, 34.0)
        sensor.acknowledge(old, coach_t=30.0)      # in flight from the first connection
        assert sensor.acked_t is None, "still in real time until the coach reports on this one"
        sensor.acknowledge(sensor._written_ms, coach_t=34.5)
        assert sensor.acked_t is not None
        sensor.silent = True
        written(sensor, 40.0)
        sensor.silent = False                      # talks again: a new flow
        before = sensor._written_ms
        sensor.acknowledge(before, coach_t=35.0)   # a report of a line from before the silence
        assert sensor.acked_t is None
    finally:
        sensor.stop()


def test_a_flowing_sensor_that_wrote_nothing_for_a_while_records_the_stall_and_a_silence_is_none():
    """The sensor-faults test tells a coach's rightful "lost" of a stalled double from a wrong
    one by these spans, so they must hold exactly the stalls and nothing else."""
    sensor = PtySensor(Flat(), rate_hz=50)
    sensor.plug()
    try:
        written(sensor, 1.0)
        sensor._send()
        assert sensor.stalls == []
        sensor._last_write -= 2.0          # as if the writer had been held back for 2 s
        written(sensor, 1.5)
        sensor._send()
        assert len(sensor.stalls) == 1 and sensor.stalls[0][1] - sensor.stalls[0][0] >= 2.0
        sensor.silent = True               # a silence made on purpose is not a stall
        sensor._last_write -= 5.0
        sensor.silent = False
        written(sensor, 2.0)
        sensor._send()
        assert len(sensor.stalls) == 1
    finally:
        sensor.stop()
