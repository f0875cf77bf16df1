"""The console as a clinic uses it, in Debian's Chromium: claim a new box with the code it says,
turn on two-step login and log in with it, choose the next patient, watch a simulated patient
(on a real pseudo-terminal, through the real daemon) pump up and exercise, live, then read the
report and forget the patient. Phone and PC width (screenshots in build/screenshots/); no
console errors."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from playwright.sync_api import expect

from coach.adapters.store import Store
from coach.console import totp
from coach.sim.patient import SimulatedPatient
from coach.sim.pty_sensor import PtySensor
from tests.conftest import ROOT, RUGCOACH
from tests.console.conftest import ConsoleUnderTest
from tests.helpers.browser import PAGES, PC, PHONE, SCREENSHOTS, go, launch_browser, open_report
from tests.patience import patience

pytestmark = pytest.mark.slow

PROTOCOL = ROOT / "tests" / "data" / "e2e.yaml"


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


class Box:
    """The daemon on a pty sensor with a simulated patient who waits until told to pump up."""

    def __init__(self, tmp_path, library):
        self.state = tmp_path / "state"
        self.socket = tmp_path / "rugcoach.sock"
        session = library.session(protocol=str(PROTOCOL))
        self.patient = SimulatedPatient(session, seed=7, starts_pumping_at=None)
        self.sensor = PtySensor(self.patient, rate_hz=50, link=tmp_path / "pbu", speed=2.0)
        self.sensor.plug()
        self.events: list[dict] = []
        self.process = subprocess.Popen(
            RUGCOACH + ["run", "--port", str(tmp_path / "pbu"), "--protocol", str(PROTOCOL), "--audio", "none",
                        "--events", "-", "--clock-events", "0.25", "--socket", str(self.socket)],
            cwd=ROOT, env=dict(os.environ, STATE_DIRECTORY=str(self.state)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.listener = threading.Thread(target=self._listen, daemon=True)
        self.listener.start()
        self.sensor.start()

    def _listen(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            self.sensor.hear(event)
            if event["type"] != "clock":
                self.events.append(event)

    def pump_up(self) -> None:
        with self.sensor.lock:
            self.patient.starts_pumping_at = self.patient.t + 0.5

    def close(self) -> str:
        self.sensor.stop()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=patience(20))
            except subprocess.TimeoutExpired:
                self.process.kill()
        assert self.process.stderr is not None
        return self.process.stderr.read()


def watch_problems(page, expected_dialog: str) -> list[str]:
    """What went wrong on the page; a dialog that starts with `expected_dialog` is answered yes."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: d.accept() if d.message.startswith(expected_dialog)
            else (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: problems.append(f"outside load: {r.url}")
            if not r.url.startswith(("https://localhost", "wss://localhost")) else None)
    return problems


def every_page(page, viewport: dict, label: str, heights: dict) -> None:
    """Each page at one width: a screenshot, its height, only its own sections, no sideways scroll."""
    page.set_viewport_size(viewport)
    for name, section in PAGES.items():
        go(page, name)
        page.wait_for_timeout(300)   # the chart drawn at its new size
        page.screenshot(path=str(SCREENSHOTS / f"page-{name}-{label}.png"), full_page=True)
        size = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        heights[f"{name} ({label})"] = size[1]
        assert size[0] <= viewport["width"], f"{name} scrolls sideways at {label} width: {size[0]} px"
        others = [s for n, s in PAGES.items() if n != name and s != section]
        assert all(page.locator(s).is_hidden() for s in others), f"{name} shows only its own sections"


def on_first_screen(page, selector: str, viewport: dict) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], \
        f"{selector} is within the first screen: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], f"{selector} is not cut off: {box}"
    return box


def test_a_clinic_claims_the_box_chooses_a_patient_watches_the_session_live_and_forgets_them(
        browser, library, tmp_path):
    box = Box(tmp_path, library)
    console = ConsoleUnderTest(box.state, box.socket).start()
    context = browser.new_context(ignore_https_errors=True, viewport=PHONE)
    page = context.new_page()
    problems = watch_problems(page, "Alle gegevens van P-0042 definitief wissen?")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        # 1. First start: the box is unclaimed, so the setup page; the box says the code aloud
        page.goto(console.url + "/")
        assert page.url.endswith("/setup")
        deadline = time.monotonic() + patience(60)
        while console.console.link.status is None or console.console.link.status.state != "armed":
            assert time.monotonic() < deadline, "the daemon never got armed"
            time.sleep(0.1)
        page.click("#announce")
        # the box answers once it has the sentences ready (synthesised the first time)
        expect(page.locator("#announce-result")).to_contain_text("Luister", timeout=patience(60_000))
        code = console.console.setup_code.get()   # what the therapist heard by the box
        page.fill("#setup-form [name=code]", code)
        page.fill("#setup-form [name=name]", "anna")
        page.fill("#setup-form [name=password]", "kort")
        page.click("#setup-form button[type=submit]")
        page.wait_for_selector('#setup-form .field-error[data-for=password]:has-text("minstens 10")')
        page.fill("#setup-form [name=password]", "een-lang-wachtwoord")
        page.click("#setup-form button[type=submit]")
        page.wait_for_url(console.url + "/")
        page.wait_for_selector("#box:not([hidden])")
        expect(page.locator("#box-state")).to_contain_text("Wacht op een patiënt")

        # 2. Two-step login: the QR code (and the key to type), a code from the "app", then a
        #    login that asks for the code after the password
        go(page, "accounts")
        page.fill("#totp-begin-form [name=my_password]", "een-lang-wachtwoord")
        page.click("#totp-begin-form button[type=submit]")
        expect(page.locator("#totp-qr")).to_be_visible()
        assert page.evaluate("() => document.querySelector('#totp-qr').naturalWidth") > 100, "the QR code shows"
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.fill("#totp-confirm-form [name=code]", totp.code_at(secret, totp.step_of(time.time())))
        page.click("#totp-confirm-form button[type=submit]")
        expect(page.locator("#totp-state")).to_have_text("aan")
        page.click("#logout")
        page.wait_for_url(console.url + "/login")
        page.fill("#login-form [name=name]", "anna")
        page.fill("#login-form [name=password]", "een-lang-wachtwoord")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-form .field-error[data-for=code]")).to_contain_text("Typ de code")
        # the code that confirmed the app is spent; the next step's code is right too (a phone
        # a little ahead), so the test need not wait up to 30 s for a fresh one
        code_now = totp.code_at(secret, totp.step_of(time.time()) + 1)
        page.fill("#login-form [name=code]", code_now)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(console.url + "/")
        page.wait_for_selector("#box:not([hidden])")

        # 2b. The pages by task, at phone and PC width, between sessions: each with its own sections
        heights: dict[str, int] = {}
        every_page(page, PC, "pc", heights)
        every_page(page, PHONE, "phone", heights)
        go(page, "box")

        # 3. A name where a pseudonym belongs is refused, in Dutch, beside its field
        page.fill("#next-form [name=patient]", "<script>alert(1)</script>")
        page.click("#next-form button[type=submit]")
        expect(page.locator("#next-form .field-error[data-for=patient]")).to_contain_text("Gebruik een pseudoniem")

        # 4. A patient of the clinic with a programme of their own, made in the console (a name
        #    that is markup shows as text; a wrong dose is named beside its field, in Dutch)
        go(page, "patienten")
        page.click("#patients summary")
        page.fill("#patient-form [name=pseudonym]", "P-0042")
        page.fill("#patient-form [name=name]", '"><img src=x onerror=alert(1)>')
        page.fill("#patient-form [name=note]", "<script>alert(1)</script>")
        page.click("#patient-form button[type=submit]")
        expect(page.locator("#patient-title")).to_contain_text('P-0042: "><img src=x onerror=alert(1)>')
        expect(page.locator("#patient-note")).to_have_text("<script>alert(1)</script>")
        expect(page.locator("#patient-list")).to_contain_text('"><img src=x onerror=alert(1)>')
        assert page.locator("#patients img").count() == 0 and page.locator("main script").count() == 0
        page.click("#add-exercise")
        row = page.locator("#programme-rows li").first
        row.locator("select[name=exercise]").select_option("buiklig-a")
        row.locator("[name=repetitions]").fill("0")
        page.click("#programme-form button[type=submit]")
        expect(row.locator('.field-error[data-for="repetitions"]')).to_contain_text("Kies een heel getal van 1")
        row.locator("[name=repetitions]").fill("2")
        row.locator("[name=hold_s]").fill("3")
        row.locator("[name=rest_s]").fill("2")
        page.click("#programme-form button[type=submit]")
        expect(page.locator("#programme-result")).to_contain_text("bewaard")
        page.click("#patient-next")
        expect(page.locator("#patient-next-result")).to_contain_text("Klaar: P-0042, Programma van P-0042")
        first_t = float(page.get_attribute("#chart", "data-last-t") or 0)
        go(page, "box")
        box.pump_up()
        expect(page.locator("#box-state")).to_contain_text("Sessie bezig", timeout=patience(120_000))
        expect(page.locator("#box-patient")).to_contain_text("P-0042")
        expect(page.locator("#box-saying")).to_contain_text("“", timeout=patience(60_000))
        # a phone while the session runs: the live view fills the first screen, the chart in it, and
        # pause and stop at the foot of it, for a thumb
        expect(page.locator("#box-repetition")).to_be_visible()
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        chart = on_first_screen(page, "#chart", PHONE)
        assert chart["height"] >= 200, f"the chart is big enough to read: {chart}"
        pause = on_first_screen(page, "#pause", PHONE)
        stop = on_first_screen(page, "#stop", PHONE)
        assert pause["y"] > chart["y"] + chart["height"] and stop["y"] > PHONE["height"] / 2, "within a thumb's reach"
        assert pause["height"] >= 44 and stop["height"] >= 44, "big enough for a thumb"
        for selector in ("#box-exercise", "#box-repetition", "#box-pressure", "#box-saying"):
            on_first_screen(page, selector, PHONE)
        assert page.locator("#start").is_hidden(), "only the buttons of the moment"
        page.screenshot(path=str(SCREENSHOTS / "session-phone.png"))
        page.screenshot(path=str(SCREENSHOTS / "console-phone.png"), full_page=True)
        heights["box, session (phone)"] = page.evaluate("() => document.documentElement.scrollHeight")
        page.set_viewport_size(PC)
        page.wait_for_timeout(300)
        for selector in ("#chart", "#pause", "#stop", "#box-repetition"):
            on_first_screen(page, selector, PC)
        page.screenshot(path=str(SCREENSHOTS / "session-pc.png"))
        expect(page.locator("#reps li")).to_have_count(2, timeout=patience(240_000))
        later_t = float(page.get_attribute("#chart", "data-last-t") or 0)
        assert later_t > first_t + 5, "the live trace moved"
        page.screenshot(path=str(SCREENSHOTS / "console-pc.png"), full_page=True)
        heights["box, session (pc)"] = page.evaluate("() => document.documentElement.scrollHeight")
        (SCREENSHOTS / "page-heights.json").write_text(json.dumps(heights, indent=1))
        reps = page.locator("#reps li").all_text_contents()
        assert len(reps) == 2 and all(":" in r for r in reps), reps
        # the chart has ink: the trace was drawn
        ink = page.evaluate("""() => { const c = document.querySelector('#chart');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
        assert ink > 500

        # 5. After the session: the patient's report inside the console, then forget them
        expect(page.locator("#box-state")).not_to_contain_text("Sessie bezig", timeout=patience(120_000))
        page.screenshot(path=str(SCREENSHOTS / "after-session-pc.png"), full_page=True)
        go(page, "patienten")
        report = open_report(context, page)
        expect(report.locator("body")).to_contain_text("P-0042")
        expect(report.locator("body")).to_contain_text("buiklig-a")
        report.screenshot(path=str(SCREENSHOTS / "console-report.png"), full_page=True)
        report.close()
        page.click("#patient-forget summary")
        page.fill("#forget-form [name=confirm]", "P-0042")
        page.fill("#forget-form [name=my_password]", "een-lang-wachtwoord")
        page.click("#forget-form button[type=submit]")
        expect(page.locator("#patient-result")).to_contain_text("P-0042 is gewist (1 sessies)")
        expect(page.locator("#patient-detail")).to_be_hidden()
        expect(page.locator("#patient-list")).not_to_contain_text("P-0042")
    finally:
        context.close()
        console.stop()
        stderr = box.close()
    # Chromium logs each refused request as an error: exactly the refusals made above (a short
    # password, the login that asks for the code, a name for a pseudonym, a wrong dose), nothing else
    refused = "error: Failed to load resource: the server responded with a status of {}"
    assert problems == [refused.format(s) for s in ("400 (Bad Request)", "401 (Unauthorized)",
                                                     "400 (Bad Request)", "400 (Bad Request)")], problems
    assert "Traceback" not in stderr
    reps = [e for e in box.events if e["type"] == "rep"]
    assert len(reps) == 2 and {r["exercise"] for r in reps} == {"buiklig-a"}, "the patient's own programme"
    from coach.console.accounts import Accounts
    accounts = Accounts(box.state)
    actions = [(e["action"], e["patient"], e["outcome"]) for e in accounts.access_log()]
    accounts.close()
    # the access log keeps who did what to the forgotten patient, under a reference, not the pseudonym
    reference = next(p for a, p, _o in actions if a == "forget")
    assert reference.startswith("vergeten-") and ("next_session", reference, "ok") in actions
    assert ("setup", None, "ok") in actions and ("setup_code_spoken", None, "ok") in actions
    assert ("totp_on", None, "ok") in actions and ("login", None, "password right, code asked") in actions
    assert ("view_report", reference, "ok") in actions
    assert not any(p == "P-0042" for _a, p, _o in actions), "the forgotten pseudonym left the access log"
    store = Store.reader(box.state)
    assert store.sessions("P-0042") == [], "the daemon erased the records"
    store.close()


def test_the_box_page_shows_the_health_the_alerts_and_a_calibration_as_the_status_says(browser, tmp_path):
    """The box's page drawn from a status (given to the page as the live connection would, for a
    box with no daemon behind it): the health at a glance, this session's notices apart from
    earlier ones, the target band, and a calibration's steps. Screenshots at phone and PC width."""
    from datetime import UTC, datetime, timedelta

    from tests.console.conftest import ADMIN
    console = ConsoleUnderTest(tmp_path / "state", tmp_path / "no-daemon.sock").start()
    context = browser.new_context(ignore_https_errors=True, viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    iso = lambda moment: moment.isoformat().replace("+00:00", "Z")  # noqa: E731
    status = {
        "state": "in_session", "version": "0.1.0", "sessions": 2, "last_outcome": "done",
        "session": {"number": 2, "patient": "P-0042", "programme": "Programma van P-0042", "record": 7},
        "next": {"patient": None, "programme": None, "exercises": [], "chosen": False},
        "coach": {"state": "holding", "t": 200.0, "exercise": "buiklig-a", "title": "Buiklig: navel intrekken",
                  "exercise_number": 1, "exercises": 3, "repetition": 4, "repetitions": 10, "hold_left_s": 4.2,
                  "band_mmhg": [44.0, 50.0], "paused": None, "finished": False},
        "calibration": None,
        "sensor": {"port": "/dev/serial/by-id/usb-Arduino_LLC_Drukmeter_85734-if00", "connected": True,
                   "samples": 9000, "bad_lines": 0, "problem": None, "clock_restarts": 0,
                   "since": iso(now - timedelta(minutes=12))},
        "sound": {"device": "default", "available": True, "losses": 0, "latency_ms": 40.0},
        "voice": {"pack": None}, "socket": None,
        "disk": {"free_mb": 30000, "total_mb": 60000, "low": False, "full": False},
        "help": None,
        "calibrated": {"date": iso(now - timedelta(days=20)), "unit": "mmHg", "offset": 0.42, "gain": 1.013,
                       "span_mmhg": 40.0},
        "clock": {"now": iso(now + timedelta(minutes=5)), "synchronized": False},
    }
    samples = [[t / 10, 40 + (6 if 1700 < t < 1900 else 0) + (t % 7) / 10] for t in range(0, 2000)]
    try:
        client = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": ADMIN[0], "password": ADMIN[1]}
        assert client.post("/api/setup", claim).status == 200
        context.add_cookies([{"name": k, "value": v, "domain": "localhost", "path": "/", "secure": True,
                              "httpOnly": True, "sameSite": "Strict"} for k, v in client.cookies.items()])
        page.goto(console.url + "/#/box")
        expect(page.locator("#box")).to_be_visible()
        page.wait_for_timeout(1500)   # the console's own first word (no daemon) has come
        # an earlier session's notice, then this session's: the earlier one goes to the day's history
        page.evaluate("(m) => receive(m)", {"topic": "snapshot", "link": "up", "status": status, "session": {
            "number": 2, "samples": samples[:100], "events": [
                {"type": "daemon", "state": "session_started", "t": 0.0},
                {"type": "compensation", "kind": "pushing", "t": 2.0}]}})
        page.evaluate("(m) => receive(m)", {"topic": "event", "event": {
            "type": "daemon", "state": "session_started", "t": 10.0}})
        page.evaluate("(m) => receive(m)", {"topic": "samples", "samples": samples[100:]})
        for event in ({"type": "compensation", "kind": "breath_hold", "t": 30.0},
                      {"type": "sensor", "status": "lost", "t": 195.0},
                      {"type": "say", "text": "Houd vast.", "t": 196.0}):
            page.evaluate("(m) => receive(m)", {"topic": "event", "event": event})
        page.evaluate("(m) => receive(m)", {"topic": "status", "status": status})
        expect(page.locator("#warnings li")).to_have_count(2)
        expect(page.locator("#warnings li").first).to_contain_text("zojuist")
        expect(page.locator("#warnings li").first).to_contain_text("Drukmeter weg")
        expect(page.locator("#warnings li").nth(1)).to_contain_text("2 min geleden")
        expect(page.locator("#history li")).to_have_count(1)
        expect(page.locator("#history li")).to_contain_text("persen")
        expect(page.locator("#box-hold")).to_have_text("nog 5 s")
        expect(page.locator("#box-repetition")).to_have_text("4 van 10")
        expect(page.locator("#box-sensor")).to_contain_text("Arduino LLC Drukmeter")
        expect(page.locator("#box-sensor")).to_contain_text("12 min geleden")
        expect(page.locator("#box-sound")).to_contain_text("werkt: de luidspreker van de box")
        expect(page.locator("#box-calibrated")).to_contain_text("nulpunt 0,42 mmHg, ijkpunt 40 mmHg")
        expect(page.locator("#clock-warning")).to_contain_text("De klok van de box loopt 5 minuten voor")
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / "status-session-phone.png"), full_page=True)
        page.set_viewport_size(PC)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / "status-session-pc.png"), full_page=True)

        # a calibration: the steps, the pressure now and the value the dial must show
        calibrating = dict(status, state="calibrating", session=None, coach=None,
                           calibration={"step": "span", "span_mmhg": 40.0})
        page.evaluate("(m) => receive(m)", {"topic": "status", "status": calibrating})
        page.evaluate("(m) => receive(m)", {"topic": "event", "event": {
            "type": "say", "text": "Pomp het kussen op tot de wijzer op veertig staat.", "t": 201.0}})
        expect(page.locator("#calibrate-live")).to_be_visible()
        expect(page.locator("#calibrate-target")).to_have_text("40 mmHg")
        expect(page.locator("#calibrate-steps li.now")).to_contain_text("Oppompen tot de wijzer op 40 mmHg")
        expect(page.locator("#calibrate-saying")).to_contain_text("Pomp het kussen op")
        expect(page.locator("#calibrate-again")).to_be_visible()
        expect(page.locator("#calibrate-cancel")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "calibration-pc.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        on_first_screen(page, "#calibrate-target", PHONE)
        on_first_screen(page, "#calibrate-cancel", PHONE)
        page.screenshot(path=str(SCREENSHOTS / "calibration-phone.png"))
        page.evaluate("(m) => receive(m)", {"topic": "event", "event": {
            "type": "daemon", "state": "calibration_done", "t": 230.0, "outcome": "ok"}})
        expect(page.locator("#calibrate-result")).to_contain_text("gelukt")
        # refused while a patient is coached, with the reason
        page.evaluate("(m) => receive(m)", {"topic": "status", "status": status})
        expect(page.locator("#calibrate-start")).to_be_disabled()
        expect(page.locator("#calibrate-why")).to_contain_text("niet tijdens een sessie")

        # a small phone: the navigation fits, nothing scrolls sideways
        page.set_viewport_size({"width": 360, "height": 740})
        page.wait_for_timeout(200)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
        for link in page.locator("#nav a").all():
            on_first_screen(page, f"#nav a[href='{link.get_attribute('href')}']", {"width": 360, "height": 740})
        page.set_viewport_size(PHONE)

        # a therapist: no admin's pages, not even by their address
        client.csrf = client.get("/api/me").json["csrf"]
        made = client.post("/api/accounts", {"name": "bram", "password": "nog-een-lang-wachtwoord", "role": "therapist",
                                             "my_password": ADMIN[1]})
        assert made.status == 200, made.body
        therapist = console.client().before_login()
        assert therapist.login("bram", "nog-een-lang-wachtwoord").status == 200
        context.clear_cookies()
        context.add_cookies([{"name": k, "value": v, "domain": "localhost", "path": "/", "secure": True,
                              "httpOnly": True, "sameSite": "Strict"} for k, v in therapist.cookies.items()])
        page.goto(console.url + "/#/instellingen")
        page.reload()   # only the hash changed: the page must load again, as the therapist
        expect(page.locator("#box")).to_be_visible()
        expect(page.locator("#backup")).to_be_hidden()
        expect(page.locator("#nav a[href='#/instellingen']")).to_be_hidden()
        expect(page.locator("#nav-accounts")).to_have_text("Account")
        go(page, "accounts")
        expect(page.locator("#admin")).to_be_hidden()
        expect(page.locator("#log")).to_be_hidden()
        page.screenshot(path=str(SCREENSHOTS / "page-accounts-therapist-phone.png"), full_page=True)
    finally:
        context.close()
        console.stop()
    assert errors == []
