"""Benchmarks of the records and of the daemon's footprint (issues 7 and 8), for bench/run.py."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUGCOACH = [sys.executable, "-m", "coach"]
IDLE_S = 20.0      # measuring windows: long against the 10 ms tick of the kernel's CPU time
SESSION_S = 30.0


def bench_records(library, report) -> None:
    from coach.adapters.store import Store
    from coach.app.simulate import record_simulated_session as record_session
    from coach.report.build import write_reports

    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder))
        recorder = store.begin_session("P-bench", "bench", [])
        times = []
        for n in range(200):  # one repetition with its second of trace, as the runner stores it
            for k in range(50):
                recorder._samples.append((recorder.id, n * 10 + k / 50, 60.0, ""))
            started = time.perf_counter()
            recorder.hear({"type": "rep", "t": n * 10.0 + 1, "exercise": "buiklig-a", "rep": n, "start": n * 10.0,
                           "end": n * 10.0 + 1, "held_s": 1.0, "change": -8.0, "verdict": "ok"})
            times.append(time.perf_counter() - started)
        report("store_repetition_p95", statistics.quantiles(times, n=20)[18] * 1000, "ms (fsync'd commit)")
        session = library.session(exercise="buiklig-a")
        for seed in range(100):
            record_session(store, "P-report", session, seed=seed)
        started = time.perf_counter()
        write_reports(store, Path(folder) / "report", patient="P-report")
        report("report_100_sessions", time.perf_counter() - started, "s (100 sessions of 15 repetitions)")
        store.close()


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_percent(pid: int, seconds: float) -> float:
    """The process's CPU use over the next `seconds`, in % of one core."""
    cpu0, t0 = _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_s(pid) - cpu0) / (time.monotonic() - t0) * 100


def _rss_mb(pid: int) -> float:
    return int(next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS")).split()[1]) / 1024


def _start_daemon(args: list[str], env: dict) -> tuple[subprocess.Popen, float]:
    """Start `rugcoach run`; returns it and the seconds to its 'ready' log line. Its log is
    drained on a thread from then on (a full pipe would stall the daemon)."""
    started = time.monotonic()
    daemon = subprocess.Popen(RUGCOACH + ["run", *args], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in daemon.stderr:
        if "ready:" in line:
            break
    ready = time.monotonic() - started
    threading.Thread(target=daemon.stderr.read, daemon=True).start()
    return daemon, ready


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def coaching_daemon(folder: Path, env: dict, first_visit_after: float):
    """`rugcoach run` on a real-time sensor-sim (50 Hz) whose first visitor lies down after
    `first_visit_after` s, speaking into the PulseAudio of `env`; yields (the daemon, its seconds
    to ready, the events file, which says "state" once a session runs)."""
    link, events = folder / "pbu", folder / "events.jsonl"
    events.unlink(missing_ok=True)   # a run before left its own
    sim = subprocess.Popen(RUGCOACH + ["sensor-sim", "--visitors", "--protocol", "demo", "--rate", "50",
                                       "--link", str(link), "--events", str(events), "--seed", "3",
                                       "--first-visit-after", str(first_visit_after)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sim.stdout.readline()
    daemon = None
    try:
        daemon, ready = _start_daemon(["--port", str(link), "--protocol", "demo", "--audio", "default",
                                       "--events", str(events)], env)
        yield daemon, ready, events
    finally:
        if daemon is not None and daemon.poll() is None:
            _stop(daemon)
        _stop(sim)


def in_session(events: Path) -> None:
    while not events.exists() or "state" not in events.read_text():
        time.sleep(0.1)


def bench_daemon(report) -> None:
    """The daemon against a real-time sensor-sim (50 Hz), speaking into a private PulseAudio
    sink (the output path of the tests): start (cold and warm phrase cache), idle, a session."""
    from coach.sim.pulse import PulseServer

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        server = PulseServer(folder / "pulse").start()
        recorder = server.record(folder / "heard.raw")  # a listener keeps the sink in real time
        env = dict(server.env, STATE_DIRECTORY=str(folder / "state"), XDG_CACHE_HOME=str(folder / "cache"))
        try:
            with coaching_daemon(folder, env, IDLE_S + 15) as (daemon, cold, _):
                pass   # the first boot synthesises the programme
            report("daemon_start_to_ready_cold", cold, "s (phrase cache empty: first boot)")
            with coaching_daemon(folder, env, IDLE_S + 15) as (daemon, warm, events):
                report("daemon_start_to_ready", warm, "s (warm phrase cache)")
                # idle: nobody on the bladder until the first visitor comes. CPU time is counted in
                # ticks of 10 ms, so the window must be long for a figure near 0.5% to mean anything.
                time.sleep(1.0)
                report("daemon_cpu_idle", _cpu_percent(daemon.pid, IDLE_S),
                       "% of one core (50 Hz sensor, nobody on it)")
                report("daemon_rss_idle", _rss_mb(daemon.pid), "MB")
                in_session(events)
                report("daemon_cpu_session", _cpu_percent(daemon.pid, SESSION_S),
                       "% of one core (50 Hz, coaching, speaking)")
                report("daemon_rss_session", _rss_mb(daemon.pid), "MB (PortAudio open)")
        finally:
            recorder.terminate()
            server.stop()
