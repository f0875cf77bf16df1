"""CONTRACT section 3: line forms, bad input, units, the sensor's clock; calibration; sensor-sim."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from coach.adapters.serial_sensor import WRAP, LineAssembler, SensorClock, Units, parse_line
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience


@pytest.mark.parametrize("line,expected", [
    (b"70.25", (None, 70.25)),
    (b"123456,69.5\r", (123456, 69.5)),
    (b"4294967295,1", (4294967295, 1.0)),
    (b"  61  ", (None, 61.0)),
])
def test_both_line_forms(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", [
    b"nan", b"inf", b"12,nan", b"-5,60", b"1.5,60", b"4294967296,60", b"60,", b",60", b"1,2,3",
    b"\xff\xfe60", b"sixty", b"# hello", b"", b"1" * 100,
])
def test_not_a_sample(line):
    assert parse_line(line) is None


GOOD = st.builds(lambda t, p: f"{t},{p:.2f}".encode(), st.integers(0, WRAP - 1),
                 st.floats(0, 300, allow_nan=False)) | st.builds(
    lambda p: f"{p:.2f}".encode(), st.floats(0, 300, allow_nan=False))
BAD = st.sampled_from([b"nan", b"12,inf", b"garbage", b"\x00\x01\x02", b"1,2,3", b"--5", b"7e9999",
                       b"\xff" * 10, b"12,", b"x" * 200])


def chunks(data: bytes, cuts: list[int]):
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), GOOD, BAD), max_size=40), st.lists(st.integers(0, 10_000)))
def test_exactly_the_good_samples_come_out_of_any_mix(lines, cuts):
    expected, stream = [], b"first line may be a fragment\n"
    for good_first, good, bad in lines:
        stream += (good + b"\n" + bad + b"\n") if good_first else (bad + b"\n" + good + b"\n")
        expected.append(parse_line(good))
    assembler = LineAssembler()
    out = []
    for piece in chunks(stream, cuts):  # the bytes arrive in arbitrary pieces
        out += assembler.feed(piece)
    assert out == expected
    assert assembler.bad == len(lines)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 5000)))
def test_random_bytes_never_raise_and_never_give_a_bad_sample(data, cuts):
    assembler = LineAssembler()
    for piece in chunks(data, cuts):
        for t_ms, value in assembler.feed(piece):
            assert t_ms is None or 0 <= t_ms < WRAP
            assert value == value and abs(value) != float("inf")


def test_a_10kb_line_without_newline_is_dropped_and_counted_once():
    assembler = LineAssembler()
    assembler.feed(b"\n")
    assert assembler.feed(b"7" * 10_000) == []
    assert assembler.feed(b"77\n70.5\n") == [(None, 70.5)]
    assert assembler.bad == 1


def test_units():
    assert Units.for_unit("mmHg").to_mmhg(70) == 70
    assert abs(Units.for_unit("kPa").to_mmhg(9.33256) - 70.0) < 0.01
    raw = Units("raw", offset=512, gain=40 / 900)
    assert abs(raw.to_mmhg(1412) - 40.0) < 1e-9
    assert not Units.for_unit("mmHg").plausible(1000) and Units.for_unit("mmHg").plausible(199)


def test_clock_unwraps_2_to_the_32():
    clock = SensorClock()
    assert clock.seconds(WRAP - 1000) == 0.0
    assert clock.seconds(WRAP - 10) == pytest.approx(0.99)
    assert clock.seconds(20) == pytest.approx(1.02)
    assert clock.restarts == 0


def test_clock_restart_continues_where_the_host_counted():
    clock = SensorClock()
    clock.seconds(500_000)
    assert clock.seconds(510_000) == pytest.approx(10.0)
    assert clock.seconds(3, resume_at=14.5) == pytest.approx(14.5)   # power was lost: restarted
    assert clock.seconds(1003) == pytest.approx(15.5)
    assert clock.restarts == 1


def test_clock_restart_never_goes_back_in_time():
    """Found by the soak test: an estimate left from an earlier silence took the daemon's clock
    hours back at the next replug, and its idle watch then waited for an empty bladder forever."""
    clock = SensorClock()
    clock.seconds(0)
    clock.seconds(7_000_000)
    assert clock.seconds(5, resume_at=3000.0) == pytest.approx(7000.0)


def test_host_clock_when_there_is_no_t_ms():
    now = [100.0]
    clock = SensorClock(host_clock=lambda: now[0])
    now[0] = 102.5
    assert clock.seconds(None) == pytest.approx(2.5)


def write_raw_sensor(master, stop, phases, speed=10.0):
    """Raw ADC counts at 50 Hz: phases of (seconds, counts), faster than real time."""
    t = 0.0
    for seconds, counts in phases:
        end = t + seconds
        while t < end and not stop.is_set():
            t += 0.02
            noise = (hash(round(t, 2)) % 3) - 1
            os.write(master, f"{int(t * 1000)},{counts + noise}\n".encode())
            time.sleep(0.02 / speed)


def calibrate(tmp_path, phases, *extra):
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)
    out = tmp_path / "calibration.json"
    stop = threading.Event()
    writer = threading.Thread(target=write_raw_sensor, args=(master, stop, phases), daemon=True)
    process = subprocess.Popen(RUGCOACH + ["calibrate", "--port", os.ttyname(slave), "--unit", "raw",
                                           "--audio", "none", "--out", str(out), *extra],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = []
    try:
        # The first prompt comes once the port is open (opening it drops what was waiting):
        # the sensor starts then, however long the command took to start.
        for line in process.stderr:
            said.append(line)
            if "Open het ventiel" in line:
                writer.start()
                break
        said.append(process.stderr.read())
        process.wait(timeout=patience(120))
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
        os.close(master)
        os.close(slave)
    return process.returncode, "".join(said), out


@pytest.mark.slow
def test_calibrate_a_raw_sensor_guided_by_voice(tmp_path):
    code, stderr, out = calibrate(tmp_path, [(5, 512), (2, 900), (8, 1412), (5, 1412)])
    assert code == 0, stderr
    assert "Open het ventiel" in stderr and "Pomp nu op tot 40" in stderr and "Klaar." in stderr
    stored = json.loads(out.read_text())
    assert abs(stored["offset"] - 512) < 1.5
    assert abs(stored["gain"] - 40 / 900) < 0.002
    assert oct(out.stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_an_implausible_calibration_is_refused(tmp_path):
    code, stderr, out = calibrate(tmp_path, [(5, 900), (8, 500), (5, 500)])
    assert code == 2
    assert "calibration refused" in stderr and "went down" in stderr
    assert "Traceback" not in stderr and not out.exists()


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + patience(timeout)
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.slow
def test_sensor_sim_serves_the_real_serial_path_and_unplugs_on_a_signal(tmp_path):
    link = tmp_path / "pbu"
    process = subprocess.Popen(RUGCOACH + ["sensor-sim", "--rate", "50", "--link", str(link),
                                           "--seed", "1"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = process.stdout.readline().strip()
        assert path == str(link) and link.is_symlink()
        port = serial.serial_for_url(path, timeout=1)
        lines = [port.readline() for _ in range(10)][1:]
        port.close()
        parsed = [parse_line(line.strip()) for line in lines]
        assert all(p is not None and p[0] is not None for p in parsed)
        ts = [p[0] for p in parsed]
        assert all(b - a == 20 for a, b in zip(ts, ts[1:])), "50 Hz, on the sensor's own clock"
        process.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: not link.exists()), "unplugged: the link is gone"
        process.send_signal(signal.SIGUSR2)
        assert wait_for(link.is_symlink), "plugged in again: the link is back"
        port = serial.serial_for_url(str(link), timeout=1)
        port.readline()
        again = parse_line(port.readline().strip())
        port.close()
        assert again[0] < 2000, "the t_ms counter restarted with the power"
    finally:
        process.terminate()
        process.wait(timeout=patience(5))
    assert process.returncode == 0


@pytest.mark.parametrize("reading,warns", [(0.2, False), (4.5, True), (70.0, False)])
def test_a_drifted_zero_is_reported_at_start(caplog, reading, warns):
    from coach.app.runner import ZeroDriftCheck
    check = ZeroDriftCheck()
    t, done = 0.0, False
    while not done:
        t += 0.02
        done = check.feed(t, reading + (0.1 if int(t * 50) % 2 else -0.1))
    assert ("zero may have drifted" in caplog.text) == warns


def test_the_reader_hands_over_batches_in_order_and_complete():
    """With t_ms the reader waits between reads (the box sleeps more): every sample still comes,
    once, in order, with the sensor's own times."""
    import tty

    from coach.adapters.serial_sensor import SerialSensor

    master, slave = os.openpty()
    tty.setraw(slave)
    sensor = SerialSensor(os.ttyname(slave))
    try:
        os.write(master, b"12,half a li\n")  # the first line after opening may be a fragment
        for i in range(100):
            os.write(master, f"{1000 + 20 * i},{i}\n".encode())
            time.sleep(0.002)
        got, batches = [], 0
        while len(got) < 100:
            batch = sensor.read(timeout=2.0)
            assert batch, f"only {len(got)} of 100 samples came"
            got += batch
            batches += 1
    finally:
        sensor.close()
        os.close(master)
        os.close(slave)
    assert [r.mmhg for r in got] == list(range(100))
    assert [round(r.t, 3) for r in got] == [round(0.02 * i, 3) for i in range(100)]
    assert [r.sensor_ms for r in got] == [1000 + 20 * i for i in range(100)]
    assert batches < 50, "read in batches, not a line at a time"
    status = sensor.status()
    assert status.samples == 100 and status.bad_lines == 0 and status.problem is None


def test_a_batch_left_by_the_idle_watch_goes_on_to_the_session():
    from coach.app.runner import SerialSource

    class Batches:  # the sensor's side: two batches, then nothing
        resume_at = None

        def __init__(self):
            self.batches = [[(0.0, 1.0), (0.02, 2.0), (0.04, 3.0)], [(0.06, 4.0)]]

        def read(self, timeout):
            return self.batches.pop(0) if self.batches else []

    source = SerialSource(Batches())
    idle = iter(source)
    assert next(idle) == (0.0, 1.0)  # the idle watch sees the patient start here
    session = iter(source)
    assert [next(session) for _ in range(4)] == [(0.02, 2.0), (0.04, 3.0), (0.06, 4.0), None]
