"""Benchmarks of the records and of the daemon's footprint (issues 7 and 8), for bench/run.py."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUGCOACH = [sys.executable, "-m", "coach"]


def bench_records(library, report) -> None:
    from coach.adapters.store import Store
    from coach.report.build import write_reports
    from tests.helpers.records import record_session

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


def _rss_mb(pid: int) -> float:
    return int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1]) / 1024


def bench_daemon(report) -> None:
    """The daemon against a real-time sensor-sim (50 Hz), audio none: idle, then a session."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        env = dict(os.environ, STATE_DIRECTORY=str(folder / "state"))
        link, events = folder / "pbu", folder / "events.jsonl"
        sim = subprocess.Popen(RUGCOACH + ["sensor-sim", "--visitors", "--protocol", "demo", "--rate", "50",
                                           "--link", str(link), "--events", str(events), "--seed", "3"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        sim.stdout.readline()
        started = time.monotonic()
        daemon = subprocess.Popen(RUGCOACH + ["run", "--port", str(link), "--protocol", "demo", "--audio", "none",
                                              "--events", str(events)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in daemon.stderr:
            if "ready:" in line:
                break
        report("daemon_start_to_ready", time.monotonic() - started, "s (warm phrase cache)")
        try:
            # idle: nobody on the bladder for the first seconds (the visitor arrives after 2-4 s at 1x)
            cpu0, t0 = _cpu_s(daemon.pid), time.monotonic()
            time.sleep(1.5)
            idle = (_cpu_s(daemon.pid) - cpu0) / (time.monotonic() - t0) * 100
            report("daemon_cpu_idle", idle, "% of one core (50 Hz sensor, nobody on it)")
            report("daemon_rss_idle", _rss_mb(daemon.pid), "MB")
            while not events.exists() or "state" not in events.read_text():
                time.sleep(0.1)
            cpu0, t0 = _cpu_s(daemon.pid), time.monotonic()
            time.sleep(20)
            busy = (_cpu_s(daemon.pid) - cpu0) / (time.monotonic() - t0) * 100
            report("daemon_cpu_session", busy, "% of one core (50 Hz, coaching)")
            report("daemon_rss_session", _rss_mb(daemon.pid), "MB")
        finally:
            daemon.send_signal(signal.SIGTERM)
            sim.terminate()
            daemon.wait(timeout=10)
            sim.wait(timeout=10)
