"""The console's figures (`make bench`): its RSS idle and with 1 and 20 live viewers, its CPU
and the daemon's extra CPU with 20 viewers, the live delay from a sample written into the
serial port to its point on the chart in a real browser (Debian's Chromium), at real time, and
the daemon's reaction time in a session (a sample written to the port, to the events it caused
written out: the path every correction takes) with the console and 21 viewers, then without."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from bench.service import _cpu_percent, _rss_mb
from coach.config.protocols import Library
from coach.sim.browser import CHROMIUM, CHROMIUM_ARGS
from coach.sim.console_client import ConsoleClient as Client
from coach.sim.patient import SimulatedPatient
from coach.sim.pty_sensor import PtySensor

ROOT = Path(__file__).resolve().parents[1]
RUGCOACH = [sys.executable, "-m", "coach"]

WINDOW_S = 20.0      # CPU is counted in 10 ms ticks: a long window for small figures
DELAY_S = 30.0       # of live chart to time
ALONE_S = 30.0       # of the session with the console gone, for the daemon's reaction time


class TimedSensor(PtySensor):
    """The pty sensor, noting the wall-clock time (epoch, as the browser's Date.now()) at which
    each sample's line was handed to the port."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.written_at: dict[int, float] = {}

    def _sample(self, t: float) -> None:
        super()._sample(t)
        if self.plugged and not self.silent:
            self.written_at[self._t_ms(t)] = time.time()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Viewers:
    """N WebSocket viewers of the live view on one thread (what N phones would ask of the console)."""

    def __init__(self, port: int, cert: Path, cookies: dict, count: int):
        self.received = 0
        self._stop = threading.Event()
        context = ssl.create_default_context(cafile=str(cert))
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())

        async def one():
            import aiohttp
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    f"wss://localhost:{port}/api/live", ssl=context,
                    headers={"Cookie": header, "Origin": f"https://localhost:{port}"}) as ws:
                while not self._stop.is_set():
                    try:
                        await asyncio.wait_for(ws.receive(), 0.5)
                        self.received += 1
                    except TimeoutError:
                        pass

        async def all_of_them():
            await asyncio.gather(*(one() for _ in range(count)))

        self._thread = threading.Thread(target=lambda: asyncio.run(all_of_them()), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def bench_console(report) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        state, sock, link = folder / "state", folder / "rugcoach.sock", folder / "pbu"
        state.mkdir()
        env = dict(os.environ, STATE_DIRECTORY=str(state), XDG_CACHE_HOME=str(folder / "cache"))
        library = Library()
        session = library.session(protocol="fase1")   # long enough for every window below
        patient = SimulatedPatient(session, seed=3, starts_pumping_at=None)
        sensor = TimedSensor(patient, rate_hz=50, link=link, speed=1.0)
        sensor.plug()
        daemon = subprocess.Popen(RUGCOACH + ["run", "--port", str(link), "--protocol", "fase1", "--audio", "none",
                                              "--events", "-", "--clock-events", "0.25", "--socket", str(sock)],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        armed, in_session = threading.Event(), threading.Event()
        reactions: list[tuple[float, float]] = []   # (when, seconds from sample written to its events out)

        def listen():
            for line in daemon.stdout:
                event = json.loads(line)
                if event.get("type") == "clock" and in_session.is_set():
                    # written after every event its sample caused: the coach's reaction to it
                    written = sensor.written_at.get(int(event["sensor_ms"]))
                    if written is not None:
                        reactions.append((time.time(), time.time() - written))
                sensor.hear(event)   # the patient hears the coach; clock reports map the clocks
                if event.get("type") == "daemon" and event.get("state") == "armed":
                    armed.set()
                if event.get("type") == "state" and event.get("state") == "measuring_rest":
                    in_session.set()
        threading.Thread(target=listen, daemon=True).start()
        sensor.start()
        if not armed.wait(180):
            raise RuntimeError("the daemon did not start")
        # Every window on the armed box (nobody on the bladder: a state that stays the same, and
        # the samples still go to the live view at 50 Hz): the daemon alone, then with the
        # console subscribed, then with 20 viewers on the console.
        time.sleep(2.0)
        baseline = _cpu_percent(daemon.pid, WINDOW_S)
        report("daemon_cpu_no_console", baseline, "% of one core (50 Hz, armed)")
        port = free_port()
        console = subprocess.Popen(RUGCOACH + ["console", "--listen", "127.0.0.1", "--port", str(port),
                                               "--http-port", "0", "--socket", str(sock)],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        viewers = None
        try:
            cert = state / "console" / "console.crt"
            _wait_for_port(port)
            client = Client(SimpleNamespace(cert=cert, port=port)).before_login()
            code = subprocess.run(RUGCOACH + ["console", "setup-code"], cwd=ROOT, env=env, capture_output=True,
                                  text=True, check=True).stdout.strip()
            client.post("/api/setup", {"code": code, "name": "bench", "password": "een-lang-wachtwoord"})
            while client.get("/api/status").json.get("link") != "up":
                time.sleep(0.2)
            time.sleep(2.0)
            report("console_rss_idle", _rss_mb(console.pid), "MB (goal 60)")
            report("daemon_cpu_console_no_viewer", _cpu_percent(daemon.pid, WINDOW_S),
                   "% of one core (50 Hz, armed, the console subscribed)")
            viewers = Viewers(port, cert, client.cookies, 20)
            time.sleep(2.0)
            console_cpu = _cpu_percent(console.pid, WINDOW_S)
            daemon_cpu = _cpu_percent(daemon.pid, WINDOW_S)
            report("console_rss_20_viewers", _rss_mb(console.pid), "MB (goal 60)")
            report("console_cpu_20_viewers", console_cpu, "% of one core")
            report("daemon_cpu_console_20_viewers", daemon_cpu,
                   "% of one core (the console holds one subscription, whatever the viewers)")
            report("daemon_cpu_extra_20_viewers", daemon_cpu - baseline, "% of one core (goal 0.5)")
            report("console_viewer_messages", viewers.received / (20 * WINDOW_S), "per viewer per second")
            viewers.close()
            viewers = None
            # The live delay while a patient exercises (idle, the daemon reads the sensor in
            # quarter seconds: nobody waits for a chart then).
            with sensor.lock:
                patient.starts_pumping_at = patient.t + 0.5
            if not in_session.wait(120):
                raise RuntimeError("the session did not start")
            delays = _live_delay(port, cert, client.cookies, sensor, lambda: report(
                "console_rss_1_viewer", _rss_mb(console.pid), "MB (one browser)"))
            report("console_live_delay_median", statistics.median(delays) * 1000,
                   f"ms (in a session: sample written to the pty, to its point drawn in Chromium; "
                   f"{len(delays)} frames)")
            report("console_live_delay_p95", sorted(delays)[int(0.95 * (len(delays) - 1))] * 1000, "ms (goal 300)")
            # the same session, with the console and 20 viewers, then with the console gone
            viewers = Viewers(port, cert, client.cookies, 20)
            watched_from = time.time()
            time.sleep(ALONE_S)
            viewers.close()
            viewers = None
            console.terminate()
            console.wait(timeout=10)
            alone_from = time.time()
            time.sleep(ALONE_S)
            for name, start, end in (("with_console", watched_from, alone_from),
                                     ("without_console", alone_from, time.time())):
                window = sorted(r for at, r in reactions if start + 1.0 <= at <= end)
                if len(window) < 20:
                    raise RuntimeError(f"the session ended too soon to time the daemon {name}")
                report(f"daemon_reaction_{name}_median", statistics.median(window) * 1000,
                       f"ms (sample written to the pty, to its events out; {len(window)} samples)")
                report(f"daemon_reaction_{name}_p95", window[int(0.95 * (len(window) - 1))] * 1000,
                       "ms" + (" (the console with 20 viewers)" if name == "with_console" else ""))
        finally:
            if viewers is not None:
                viewers.close()
            for process in (console, daemon):
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            sensor.stop()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the console did not start")


def _live_delay(port: int, cert: Path, cookies: dict, sensor: TimedSensor, with_one_viewer) -> list[float]:
    """Chromium on the console; each time the chart draws a newer point, the browser notes
    Date.now(). The point's session time maps to the sensor's t_ms by the coach's clock reports."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": k, "value": v, "domain": "localhost", "path": "/", "secure": True,
                              "httpOnly": True, "sameSite": "Strict"} for k, v in cookies.items()])
        page = context.new_page()
        page.goto(f"https://localhost:{port}/")
        page.wait_for_selector("#chart[data-last-t]", timeout=60_000)
        page.evaluate("""() => { window.__drawn = []; const chart = document.querySelector('#chart');
            new MutationObserver(() => window.__drawn.push([Number(chart.dataset.lastT), Date.now()]))
              .observe(chart, {attributes: true, attributeFilter: ['data-last-t']}); }""")
        with_one_viewer()
        time.sleep(DELAY_S)
        drawn = page.evaluate("() => window.__drawn")
        offset, origin = sensor.offset, sensor._t_ms_origin
        browser.close()
    delays = []
    for coach_t, at_ms in drawn:
        t_ms = int(round((coach_t + offset - origin) * 1000))
        written = next((sensor.written_at[k] for k in (t_ms, t_ms - 1, t_ms + 1) if k in sensor.written_at), None)
        if written is not None:
            delays.append(at_ms / 1000 - written)
    if not delays:
        raise RuntimeError("no drawn point could be matched to a written sample")
    return delays
