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
from tests.helpers.browser import launch_browser
from tests.patience import patience

pytestmark = pytest.mark.slow

PROTOCOL = ROOT / "tests" / "data" / "e2e.yaml"
PHONE = {"width": 390, "height": 844}
PC = {"width": 1280, "height": 900}
SCREENSHOTS = ROOT / "build" / "screenshots"   # kept after the test, to look at


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

        # 3. A name where a pseudonym belongs is refused, in Dutch, beside its field
        page.fill("#next-form [name=patient]", "<script>alert(1)</script>")
        page.click("#next-form button[type=submit]")
        expect(page.locator("#next-form .field-error[data-for=patient]")).to_contain_text("Gebruik een pseudoniem")

        # 4. A patient of the clinic with a programme of their own, made in the console (a name
        #    that is markup shows as text; a wrong dose is named beside its field, in Dutch)
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
        box.pump_up()
        expect(page.locator("#box-state")).to_contain_text("Sessie bezig", timeout=patience(120_000))
        expect(page.locator("#box-patient")).to_contain_text("P-0042")
        expect(page.locator("#box-saying")).to_contain_text("“", timeout=patience(60_000))
        page.screenshot(path=str(SCREENSHOTS / "console-phone.png"), full_page=True)
        page.set_viewport_size(PC)
        expect(page.locator("#reps li")).to_have_count(2, timeout=patience(240_000))
        later_t = float(page.get_attribute("#chart", "data-last-t") or 0)
        assert later_t > first_t + 5, "the live trace moved"
        page.screenshot(path=str(SCREENSHOTS / "console-pc.png"), full_page=True)
        reps = page.locator("#reps li").all_text_contents()
        assert len(reps) == 2 and all(":" in r for r in reps), reps
        # the chart has ink: the trace was drawn
        ink = page.evaluate("""() => { const c = document.querySelector('#chart');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
        assert ink > 500

        # 5. After the session: the patient's report inside the console, then forget them
        expect(page.locator("#box-state")).not_to_contain_text("Sessie bezig", timeout=patience(120_000))
        with context.expect_page() as opened:
            page.click("#patient-report")
        report = opened.value
        report.wait_for_load_state()
        expect(report.locator("body")).to_contain_text("P-0042")
        expect(report.locator("body")).to_contain_text("buiklig-a")
        report.screenshot(path=str(SCREENSHOTS / "console-report.png"), full_page=True)
        report.close()
        page.click("#patient-detail details summary")
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
