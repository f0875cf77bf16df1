"""The box's service: the unit, the install, and the daemon's life under systemd's protocol.

No systemd runs as PID 1 here, so systemd's side is played by the test: a real datagram socket
as $NOTIFY_SOCKET (READY, WATCHDOG pings), $JOURNAL_STREAM for the log form, real signals, and a
simulated sensor on a pseudo-terminal with patients who come and go."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from coach.adapters.store import SCHEMA_VERSION, Store
from coach.config.protocols import Library
from coach.core.voice import sentences
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow   # subprocesses, real time or long simulations: not in make test-fast

UNIT = ROOT / "systemd" / "rugcoach.service"
CONSOLE_UNIT = ROOT / "systemd" / "rugcoach-console.service"
CONSOLE_SOCKET = ROOT / "systemd" / "rugcoach-console.socket"
CLINIC_UNIT = ROOT / "systemd" / "rugcoach-clinic.service"


@pytest.mark.parametrize(("unit", "most"), [(UNIT, 1.0), (CONSOLE_UNIT, 1.0), (CLINIC_UNIT, 1.0)],
                         ids=["daemon", "console", "clinic-link"])
def test_the_units_verify_and_are_rated_safe(unit, most):
    """The daemon has no network at all; the console, which must serve the LAN, gets its ports
    from systemd (no capability, its own user namespace, the LAN's addresses only)."""
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)] + ([str(CONSOLE_SOCKET)] if unit == CONSOLE_UNIT
                                                                          else []), capture_output=True, text=True)
    problems = [line for line in (verify.stdout + verify.stderr).splitlines()
                if line.strip() and "/opt/rugcoach/venv/bin/rugcoach" not in line]
    assert problems == [], "only the installed binary's absence may be reported"
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                              capture_output=True, text=True)
    level = float(re.search(rf"Overall exposure level for {unit.name}: ([0-9.]+)", security.stdout).group(1))
    print(f"\n  {unit.name}: exposure level {level}")
    assert level <= most
    if unit == UNIT:
        for line in ("PrivateNetwork=", "RestrictAddressFamilies=~AF_(INET|INET6)", "IPAddressDeny="):
            assert any(row.startswith("✓ " + line) for row in security.stdout.splitlines()), line
    elif unit == CLINIC_UNIT:   # the practice's network (the clinic store), nothing more
        assert "IPAddressDeny=any" in unit.read_text() and "DeviceAllow" not in unit.read_text()
        for line in ("CapabilityBoundingSet=", "PrivateUsers=", "PrivateDevices="):
            assert any(row.startswith("✓ " + line) for row in security.stdout.splitlines()), line
    else:
        assert "PrivateDevices=yes" in unit.read_text() and "DeviceAllow" not in unit.read_text()
        for line in ("CapabilityBoundingSet=", "PrivateUsers=", "RestrictAddressFamilies=~AF_(INET|INET6)"):
            assert any(row.startswith("✓ " + line) for row in security.stdout.splitlines()), line
        assert "IPAddressDeny=any" in CONSOLE_SOCKET.read_text(), "the LAN only, on the listening sockets too"


def test_the_hardening_left_out_is_left_out_for_a_reason():
    """MemoryDenyWriteExecute would break the sound: sounddevice's callback is a cffi callback.
    Shown with the kernel's own equivalent (PR_SET_MDWE, Linux 6.3+)."""
    code = ("import ctypes, sys\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)\n"
            "import cffi\nffi = cffi.FFI()\n"
            "try:\n    ffi.callback('int(int)', lambda x: x)\nexcept MemoryError:\n    sys.exit(3)\n")
    result = subprocess.run([sys.executable, "-c", code])
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE")
    assert result.returncode == 3, "cffi callbacks work under MDWE now: add MemoryDenyWriteExecute=yes"
    assert "MemoryDenyWriteExecute=yes" not in UNIT.read_text().replace("# Not MemoryDenyWriteExecute=yes", "")


def test_make_install_places_everything_and_uninstall_keeps_the_records(tmp_path):
    dest = tmp_path / "root"
    env = dict(os.environ, DESTDIR=str(dest))
    result = subprocess.run(["make", "-s", "install"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=patience(600))
    assert result.returncode == 0, result.stdout + result.stderr
    installed = dest / "opt/rugcoach/venv/bin/rugcoach"
    config = dest / "etc/rugcoach/config.yaml"
    unit = dest / "etc/systemd/system/rugcoach.service"
    assert installed.exists() and config.exists() and unit.read_text() == UNIT.read_text()
    console_unit = dest / "etc/systemd/system/rugcoach-console.service"
    assert console_unit.read_text() == CONSOLE_UNIT.read_text()
    assert (dest / "etc/systemd/system/rugcoach-console.socket").read_text() == CONSOLE_SOCKET.read_text()
    assert (dest / "etc/systemd/system/rugcoach-clinic.service").read_text() == CLINIC_UNIT.read_text()
    assert (dest / "var/lib/rugcoach/console/console.crt").exists(), "the certificate is made at install"
    assert "SHA-256" not in result.stderr
    documented = re.findall(r"file://(\S+)", unit.read_text())
    assert documented and all((dest / path.lstrip("/")).exists() for path in documented), documented
    check = subprocess.run([str(installed), "check", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    bundled = subprocess.run([str(installed), "check"], capture_output=True, text=True)
    assert bundled.returncode == 0, bundled.stderr   # the installed copy finds its protocols
    # The unit names the very binary the install placed (a --root verify would need a whole
    # system tree under DESTDIR; the unit itself is verified against this host's in the first test).
    exec_start = re.search(r"^ExecStart=(\S+)", unit.read_text(), re.MULTILINE).group(1)
    placed = dest / exec_start.lstrip("/")
    assert placed == installed and os.access(placed, os.X_OK)
    # a second install keeps the therapist's config
    config.write_text(config.read_text() + "patient: P-9\n")
    again = subprocess.run(["make", "-s", "install"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=patience(600))
    assert again.returncode == 0 and "patient: P-9" in config.read_text()
    # the version installed is the release and the commit, as `rugcoach status` will say it
    stamped = (dest / "opt/rugcoach/src/coach/VERSION").read_text().strip()
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    assert stamped.startswith("0.1.0") and (not commit or f"+g{commit}" in stamped), stamped
    # records from a newer RugCoach: an install of this (older) one refuses, touching nothing
    records = dest / "var/lib/rugcoach"
    newer = sqlite3.connect(records / "rugcoach.db")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    before = (dest / "opt/rugcoach/src/coach/VERSION").stat().st_mtime_ns
    refused = subprocess.run(["make", "-s", "install"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=patience(600))
    assert refused.returncode != 0 and "from a newer RugCoach" in refused.stderr, refused.stderr
    assert "nothing was installed" in refused.stderr and "Traceback" not in refused.stderr
    assert (dest / "opt/rugcoach/src/coach/VERSION").stat().st_mtime_ns == before, "nothing was touched"
    (records / "rugcoach.db").unlink()
    (records / "rugcoach.db").write_bytes(b"records")
    subprocess.run(["make", "-s", "uninstall"], cwd=ROOT, env=env, check=True, capture_output=True)
    assert not (dest / "opt/rugcoach").exists() and not unit.exists() and not console_unit.exists()
    assert (records / "rugcoach.db").exists() and config.exists(), "uninstall leaves the records"
    subprocess.run(["make", "-s", "uninstall"], cwd=ROOT, env=dict(env, PURGE="yes"), check=True, capture_output=True)
    assert not records.exists() and not config.exists()


class Notifications:
    """systemd's side of sd_notify: a datagram socket that collects what the daemon says, read
    all the time on a thread of its own (as systemd does), so each message is timed as it came,
    whatever the test is waiting for meanwhile (a slow start of sensor-sim under qemu once
    showed as a 10 s gap between watchdog pings that the daemon had sent on time)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.path = path
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.received.append((time.monotonic(), line))

    def close(self):
        self._stop.set()
        self._thread.join(timeout=patience(2))
        self.sock.close()

    def wait_for(self, text, timeout):
        deadline = time.monotonic() + patience(timeout)
        while time.monotonic() < deadline:
            if any(line == text for _, line in list(self.received)):
                return True
            time.sleep(0.02)
        return False


def events_of(path):
    """The coach's events so far (without the clock reports that keep the simulated patients in step)."""
    if not path.exists():
        return []
    return [event for event in (json.loads(line) for line in path.read_text().splitlines() if line.endswith("}"))
            if event["type"] != "clock"]


def unit_seconds(name):
    """A time setting of the unit, e.g. WatchdogSec=10: what systemd will hold the daemon to."""
    return float(re.search(rf"^{name}=(\d+)$", UNIT.read_text(), re.MULTILINE).group(1))


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + patience(timeout)
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def test_the_daemons_life(tmp_path):
    """Idle and quiet until a patient inflates; sessions back to back; SIGHUP reloads (a bad file
    is refused, the old one stays); SIGTERM ends within 3 s with the record closed; READY and
    watchdog pings reach systemd; the log is in journald's form."""
    state, link, events = tmp_path / "state", tmp_path / "pbu", tmp_path / "events.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text("patient: P-first\n")
    notify = Notifications(tmp_path / "notify")
    watchdog_s, stop_limit_s = unit_seconds("WatchdogSec"), unit_seconds("TimeoutStopSec")
    env = dict(os.environ, STATE_DIRECTORY=str(state), NOTIFY_SOCKET=str(notify.path),
               WATCHDOG_USEC=str(int(watchdog_s * 1e6)), JOURNAL_STREAM="8:12345",
               INVOCATION_ID="0123456789abcdef")
    # The daemon first (it waits for its sensor, as at boot), then the sensor; the first patient
    # comes after a minute of patient time (3 s of wall time at 20x), so a slow start of the
    # daemon cannot let it join a session already under way.
    started = time.monotonic()
    log_path = tmp_path / "daemon.log"
    daemon = subprocess.Popen(RUGCOACH + ["run", "--config", str(config), "--port", str(link), "--protocol", "demo",
                                          "--audio", "none", "--events", str(events), "--clock-events", "0.25"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_path.open("w"), text=True)
    sim = None
    try:
        assert notify.wait_for("READY=1", 30), "READY=1 never came"
        ready_s = time.monotonic() - started
        sim = subprocess.Popen(RUGCOACH + ["sensor-sim", "--visitors", "--protocol", "demo", "--speed", "20",
                                           "--rate", "25", "--link", str(link), "--events", str(events),
                                           "--seed", "5", "--first-visit-after", "60"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        sim.stdout.readline()
        sim.stdout.close()
        # idle: quiet until the first visitor has pumped the bladder up (the time limits below
        # only stop a test that hangs: the patients keep in step with the daemon by construction)
        assert wait_until(lambda: any(e["type"] == "say" for e in events_of(events)), 120)
        first = [e for e in events_of(events) if e["type"] != "daemon"]   # the coach's, not the daemon's news
        assert first[0]["type"] == "state" and first[0]["state"] == "waiting" and first[0]["t"] > 30.0, \
            "nothing happens before a patient has pumped the bladder up"
        welcome = Library().phrases["welcome"][0]
        assert next(e for e in first if e["type"] == "say")["text"] == sentences(welcome)[0]
        config.write_text("patient: P-first\nvoice: {rate_wpm: 9000}\n")   # a mistake
        daemon.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reload refused" in log_path.read_text(), 60)
        config.write_text("patient: P-second\n")
        daemon.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reloaded config" in log_path.read_text(), 60)
        # the first session ends, the visitor leaves, the next one comes: a second session
        assert wait_until(lambda: sum(e.get("cue") == "done" for e in events_of(events)) >= 2, 300), \
            "no second session"
        assert wait_until(lambda: sum(e.get("state") == "positioning" for e in events_of(events)) >= 3, 300)
        # a moment into the third session: at most 20 s of its 100 (the patients run at most 20x)
        wait_until(lambda: False, 1.0)
        stop = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=patience(10))
        stop_s = time.monotonic() - stop
    finally:
        for process in (daemon, sim):
            if process is not None and process.poll() is None:
                process.kill()
    log = log_path.read_text()
    assert daemon.returncode == 0, log
    assert stop_s < stop_limit_s, f"SIGTERM took {stop_s:.1f} s; systemd kills after {stop_limit_s:g} s"
    assert notify.wait_for("STOPPING=1", 10)
    # timed as they came (until SIGTERM), as systemd sees them
    # systemd restarts a daemon that does not ping within WatchdogSec; it pings at half that
    pings = [t for t, line in notify.received if line == "WATCHDOG=1" and t < stop]
    gaps = [b - a for a, b in zip(pings, pings[1:])] + [stop - pings[-1]]
    assert len(pings) >= 2 and max(gaps) < watchdog_s, "the main loop pings within the watchdog interval"
    # the log: journald's priorities, no timestamps of our own, the refused reload named
    assert all(re.match(r"<[0-7]>", line) for line in log.splitlines()), log[:500]
    assert not re.search(r"\d\d:\d\d:\d\d", log)
    assert re.search(r"<3>rugcoach: reload refused.*rate_wpm", log), log
    assert "<6>rugcoach: reloaded config and protocols" in log
    assert "Traceback" not in log
    # the daemon's own news between sessions, in the same events
    news = [(e["state"], e["session"]) for e in events_of(events) if e["type"] == "daemon"]
    assert news[:6] == [("armed", 0), ("session_started", 1), ("session_ended", 1), ("waiting_empty", 1),
                        ("armed", 1), ("session_started", 2)], news
    assert next(e for e in events_of(events) if e["type"] == "daemon" and e["state"] == "session_ended")["outcome"] \
        == "done"
    store = Store(state)
    first, second = store.sessions("P-first"), store.sessions("P-second")
    # a reload holds from the next session: the sessions begun before it ran as P-first (one, or
    # two on a machine slow enough that the second began before the test's second SIGHUP), the
    # third began after it (the test waits for "reloaded config" first)
    assert first and all(s["status"] == "done" for s in first), "the sessions before ran with the config in force"
    assert second and second[-1]["status"] == "stopped", "SIGTERM closes the record"
    assert all(s["status"] == "done" for s in second[:-1])
    print(f"\n  READY after {ready_s:.2f} s, SIGTERM to exit {stop_s:.2f} s, {len(pings)} watchdog pings,"
          f" longest gap {max(gaps) * 1000:.0f} ms")


def test_a_sensor_not_plugged_in_yet_is_waited_for_under_systemd(tmp_path):
    link = tmp_path / "pbu"
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), INVOCATION_ID="x")
    daemon = subprocess.Popen(RUGCOACH + ["run", "--port", str(link), "--protocol", "demo", "--audio", "none"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    try:
        for line in daemon.stderr:   # it says so, and waits (it does not exit: the line comes)
            log.append(line)
            if "waiting for it" in line:
                break
        assert daemon.poll() is None, "the daemon waits for the sensor"
        daemon.send_signal(signal.SIGTERM)
        # Only a hang guard: how soon SIGTERM is obeyed is the daemon's-life test's (TimeoutStopSec).
        # Here the daemon may still be synthesising its first sentences, which took over 30 s under
        # qemu (the arm64 check); their log is shown if it hangs.
        try:
            daemon.wait(timeout=patience(180))
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise AssertionError("no exit after SIGTERM: " + "".join(log) + daemon.stderr.read()) from None
    finally:
        if daemon.poll() is None:
            daemon.kill()
    log = "".join(log) + daemon.stderr.read()
    assert "waiting for it" in log and daemon.returncode == 0 and "Traceback" not in log, log


def test_sigterm_during_the_first_synthesis_stops_the_daemon_at_once(tmp_path):
    """A new box synthesises every sentence before READY (minutes on a slow one); a SIGTERM
    then must not wait for all of them: systemd kills after TimeoutStopSec."""
    cache = tmp_path / "cache" / "phrases"
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), CACHE_DIRECTORY=str(tmp_path / "cache"),
               INVOCATION_ID="x")
    daemon = subprocess.Popen(RUGCOACH + ["run", "--port", str(tmp_path / "pbu"), "--protocol", "fase1",
                                          "--audio", "none"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(list(cache.glob("*.wav"))) >= 1, 120), "the synthesis never began"
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=unit_seconds("TimeoutStopSec"))
    finally:
        if daemon.poll() is None:
            daemon.kill()
    log = daemon.stderr.read()
    made = len(list(cache.glob("*.wav")))
    from coach.app.wiring import Setup
    total = len(set(Setup.from_values(protocol="fase1").sentences()))
    assert daemon.returncode == 0 and "Traceback" not in log, log
    assert "stopped during start-up" in log, log
    assert made < total / 2, f"{made} of {total} sentences synthesised: SIGTERM waited for the synthesis"


def test_the_installed_default_config_starts_the_daemon(tmp_path):
    """systemd/config.yaml as `make install` places it (no protocol: the bundled phase 1): the
    daemon comes up and says READY; `rugcoach check` on it proves that before it is installed."""
    from coach.sim.patient import SimulatedPatient
    from coach.sim.pty_sensor import PtySensor

    check = subprocess.run(RUGCOACH + ["check", str(ROOT / "systemd" / "config.yaml")], cwd=ROOT,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    sensor = PtySensor(SimulatedPatient(Library().session(protocol="fase1")), rate_hz=20)
    port = sensor.plug()
    notify = Notifications(tmp_path / "notify")
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), NOTIFY_SOCKET=str(notify.path),
               INVOCATION_ID="x")
    daemon = subprocess.Popen(RUGCOACH + ["run", "--config", str(ROOT / "systemd" / "config.yaml"),
                                          "--port", port, "--audio", "none"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert notify.wait_for("READY=1", 120), daemon.stderr.read() if daemon.poll() is not None else "no READY"
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=patience(30))
    finally:
        sensor.stop()
        if daemon.poll() is None:
            daemon.kill()
    log = daemon.stderr.read()
    assert daemon.returncode == 0 and "Traceback" not in log, log


def test_a_config_error_stops_the_daemon_once_and_says_why(tmp_path):
    """Exit 2, which the unit does not restart (a restart would only burn the start limit), and
    STATUS= names the file and line for `systemctl status`."""
    assert re.search(r"^RestartPreventExitStatus=2$", UNIT.read_text(), re.MULTILINE)
    config = tmp_path / "config.yaml"
    config.write_text("port: /dev/ttyACM0\nprotocol: fase9\n")
    check = subprocess.run(RUGCOACH + ["check", str(config)], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 2 and f"{config}:2: protocol: protocol 'fase9' not found" in check.stderr
    notify = Notifications(tmp_path / "notify")
    env = dict(os.environ, STATE_DIRECTORY=str(tmp_path / "state"), NOTIFY_SOCKET=str(notify.path),
               INVOCATION_ID="x")
    result = subprocess.run(RUGCOACH + ["run", "--config", str(config), "--audio", "none"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=patience(60))
    assert result.returncode == 2 and "protocol 'fase9' not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert wait_until(lambda: any(line.startswith("STATUS=stopped: ") and "fase9" in line
                                  for _, line in list(notify.received)), 10)


def test_the_serial_port_says_what_is_really_wrong(tmp_path):
    """Not every failure is a missing cable: no such device, permission denied (who and which
    group), busy (held by whom), refused by the unit's device rules."""
    import errno
    import tty

    import serial

    from coach.adapters.serial_sensor import open_problem

    missing = open_problem("/dev/ttyACM7", serial.SerialException(errno.ENOENT, "gone"))
    assert "does not exist" in missing and "USB cable" in missing
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    try:
        busy = open_problem(path, serial.SerialException(errno.EBUSY, "busy"))
        assert "held open by python" in busy.lower() and f"pid {os.getpid()}" in busy
        refused = open_problem(path, serial.SerialException(errno.EPERM, "not permitted"))
        assert "device rules" in refused and "DeviceAllow" in refused
        os.chmod(path, 0o600)
        os.chown(path, 0, 0)
        # a user without access to the port (nobody), through the sensor's real open
        assert os.geteuid() == 0, "make test runs as root"
        assert "permission denied on serial port" in as_nobody(lambda: _open_sensor(path))
        assert f"'{path}': user 'nobody' may not read it" in as_nobody(lambda: _open_sensor(path))
    finally:
        os.close(master)
        os.close(slave)


def _open_sensor(path):
    from coach.adapters.serial_sensor import SerialSensor
    from coach.errors import DeviceError

    try:
        SerialSensor(path).close()
    except DeviceError as exc:
        return str(exc)
    return "opened"


def as_nobody(action) -> str:
    """Run `action` in a child process that has become the user nobody; what it returns."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(writer, str(action()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as handle:
        said = handle.read()
    os.waitpid(pid, 0)
    return said


def test_one_rule_finds_the_box_records():
    """The service, `sudo -u rugcoach rugcoach ...` (whose home is /var/lib/rugcoach), and anyone
    else each find their records by the same rule."""
    from pathlib import Path

    from coach.config.paths import cache_dir, state_dir

    assert state_dir({"STATE_DIRECTORY": "/var/lib/rugcoach"}, user="rugcoach") == Path("/var/lib/rugcoach")
    assert state_dir({"HOME": "/var/lib/rugcoach"}, user="rugcoach") == Path("/var/lib/rugcoach")
    assert cache_dir({"HOME": "/var/lib/rugcoach"}, user="rugcoach") == Path("/var/cache/rugcoach/phrases")
    assert state_dir({"HOME": "/home/anna"}, user="anna") == Path("/home/anna/.local/state/rugcoach")
    assert state_dir({"XDG_STATE_HOME": "/x", "HOME": "/home/anna"}, user="anna") == Path("/x/rugcoach")
    assert re.search(r"^StateDirectory=rugcoach$", UNIT.read_text(), re.MULTILINE)
    assert re.search(r"^User=rugcoach$", UNIT.read_text(), re.MULTILINE)
