"""Two rooms' consoles on one clinic store, in Debian's Chromium: a therapist made in room 1 logs
in in room 2, finds the patient made in room 1, sees every box of the practice with its state and
goes to the other's console; with PostgreSQL stopped the page says so in Dutch and what still
works, the patient list still answers, and a change is refused beside its form. Screenshots in
build/screenshots/clinic-*.png."""

from __future__ import annotations

import json
import re
import threading

import psycopg
import pytest
from playwright.sync_api import expect

from coach.app.clinic_cli import open_console_data
from coach.clinic.address import address
from coach.clinic.console import AWAY_NL
from coach.clinic.link import ClinicLink
from coach.console.accounts import Accounts
from coach.console.patients import Patients
from coach.sim.postgres import ADMIN_PASSWORD, PostgresServer
from tests.clinic.test_clinic_store import clinic
from tests.console.conftest import ConsoleUnderTest
from tests.helpers.browser import PC, PHONE, SCREENSHOTS, launch_browser
from tests.patience import patience

pytestmark = pytest.mark.slow
ANNA = ("anna", "een-lang-wachtwoord")


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


class Linked:
    """A box's clinic link, running as its unit runs it (rounds every second), on a thread."""

    def __init__(self, state):
        found = address(state, None, None)
        assert found is not None
        self.link = ClinicLink(state, found, socket_path=state / "no-daemon.sock", console_url="https://kamer1.test/")
        self.stopping = False
        self.thread = threading.Thread(target=self.link.run, kwargs={"stop": lambda: self.stopping}, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=patience(10))
        self.link.close()


def test_two_rooms_consoles_on_one_clinic_store(browser, tmp_path):
    pg = PostgresServer().start()
    consoles, links = [], []
    context = browser.new_context(ignore_https_errors=True, viewport=PHONE)
    try:
        owner = pg.create_database()
        clinic(tmp_path, "init", owner)
        rooms = {}
        for number in (1, 2):
            state = tmp_path / f"room{number}"
            state.mkdir(mode=0o700)
            (state / "settings.json").write_text(json.dumps({"name": f"Kamer {number}"}))
            rooms[number] = state
        accounts = Accounts(rooms[1])
        accounts.add(*ANNA, "admin")
        accounts.close()
        patients = Patients(rooms[1])
        patients.add("P-0042")
        patients.close()
        # room 2 was used alone too: its own "anna" and its own P-0042, left for an admin to choose
        accounts = Accounts(rooms[2])
        accounts.add("anna", "een-ander-wachtwoord", "therapist")
        accounts.close()
        patients = Patients(rooms[2])
        patients.add("P-0042", note="kamer 2: knie")
        patients.close()
        for number, state in rooms.items():
            secret = clinic(tmp_path, "add-box", f"kamer{number}", "--url", owner).stdout.strip()
            joined = clinic(state, "join", pg.url(f"rugcoach_kamer{number}"), "--secret-file", "-", "--keep",
                            "console", secret=secret)
            assert number == 1 or "2 for an admin to decide in the console" in joined.stderr, joined.stderr
            links.append(Linked(state))
        consoles = [ConsoleUnderTest(state, state / "no-daemon.sock", open_data=open_console_data).start()
                    for state in rooms.values()]
        room2 = consoles[1]

        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(room2.url + "/login")
        page.fill("#login-form [name=name]", ANNA[0])
        page.fill("#login-form [name=password]", ANNA[1])
        page.click("#login-form button[type=submit]")
        page.wait_for_url(room2.url + "/")
        expect(page.locator("#clinic")).to_be_visible(timeout=patience(10_000))
        boxes = page.locator("#clinic-boxes li")
        expect(boxes).to_have_count(2, timeout=patience(10_000))
        expect(boxes.nth(0)).to_contain_text("Kamer 1")
        expect(boxes.nth(0)).to_contain_text("uit (de coach draait niet)")
        expect(boxes.nth(0).locator("a.box-link")).to_have_attribute("href", "https://kamer1.test/")
        expect(boxes.nth(1)).to_contain_text("Kamer 2 (deze box)")
        expect(page.locator("#clinic-away")).to_be_hidden()
        # the clashes room 2 brought: the clinic's in force until an admin chooses
        clashes = page.locator("#clinic-clash-list li")
        expect(clashes).to_have_count(2)
        expect(clashes.nth(0)).to_contain_text("Account anna")
        expect(clashes.nth(0)).to_contain_text("Praktijk: beheerder")
        expect(clashes.nth(0)).to_contain_text("Kamer 2: therapeut")
        expect(clashes.nth(1)).to_contain_text("kamer 2: knie")
        clashes.nth(1).locator("button[data-keep=box]").click()
        expect(clashes).to_have_count(1)
        clashes.nth(0).locator("button[data-keep=clinic]").click()
        expect(page.locator("#clinic-clashes")).to_be_hidden()
        with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
            assert db.execute("SELECT note FROM console_patients WHERE pseudonym = 'P-0042'").fetchone()[0] == \
                "kamer 2: knie", "room 2's patient kept"
            assert db.execute("SELECT role FROM accounts WHERE name = 'anna'").fetchone()[0] == "admin"
            assert db.execute("SELECT count(*) FROM join_clashes").fetchone()[0] == 0
        page.click("#nav a[href='#/patienten']")
        expect(page.locator("#patient-list")).to_contain_text("P-0042")   # made in room 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

        pg.stop()   # the practice's server goes down
        page.click("#nav a[href='#/box']")
        expect(page.locator("#clinic-away")).to_be_visible(timeout=patience(15_000))
        expect(page.locator("#clinic-away")).to_contain_text("De praktijkopslag is niet bereikbaar")
        expect(page.locator("#clinic-away")).to_contain_text("de volgende patiënt")
        expect(page.locator("#clinic-boxes")).to_have_class(re.compile(r"\bstale\b"))   # greyed: as last heard
        expect(boxes.nth(0)).to_contain_text("uit (de coach draait niet)")
        expect(boxes.nth(1)).to_contain_text("gezien: zojuist", timeout=patience(15_000))   # no longer "nu"
        for label, viewport in (("phone", PHONE), ("pc", PC)):
            page.set_viewport_size(viewport)
            page.wait_for_timeout(300)
            page.screenshot(path=str(SCREENSHOTS / f"clinic-away-{label}.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.click("#nav a[href='#/patienten']")
        page.click("#patient-list >> text=P-0042")
        expect(page.locator("#patient-title")).to_contain_text("P-0042")   # from the box's copy
        page.click("#add-exercise")
        page.locator("#programme-rows li").first.locator("select[name=exercise]").select_option("buiklig-a")
        page.click("#programme-form button[type=submit]")
        expect(page.locator("#programme-form")).to_contain_text(AWAY_NL, timeout=patience(10_000))

        pg.start()
        page.click("#nav a[href='#/box']")
        expect(page.locator("#clinic-away")).to_be_hidden(timeout=patience(20_000))
        assert errors == [], errors
    finally:
        context.close()
        for console in consoles:
            console.stop()
        for linked in links:
            linked.stop()
        pg.remove()
