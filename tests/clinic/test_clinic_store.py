"""The clinic store on a real PostgreSQL (Debian's, run as `nobody`): two boxes of one practice,
each with its own state directory, joined by `rugcoach clinic init / add-box / join` as a
practice's IT person and installer would; the consoles' data and the clinic link of each box
driven as their processes drive them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

from coach.adapters import records
from coach.adapters.store import Store
from coach.clinic import link_state, schema
from coach.clinic.address import StoreAway, address
from coach.clinic.console import AWAY_NL, open_clinic
from coach.clinic.link import ClinicLink
from coach.clinic.sessions import report_record, session_record, with_rebuilt
from coach.console.accounts import Accounts
from coach.console.patients import PatientError, Patients
from coach.errors import UserError
from coach.report.build import patient_page
from coach.sim.postgres import ADMIN_PASSWORD, DATABASE, PostgresServer
from tests.conftest import ROOT, RUGCOACH
from tests.patience import patience

pytestmark = pytest.mark.slow   # a database server started and stopped

ANNA = ("anna", "een-lang-wachtwoord")
MADE_AT = re.compile(r"Gemaakt door RugCoach op [0-9: -]+\.")   # a page says when it was made
PROGRAMME = [{"exercise": "buiklig-a", "repetitions": 3, "hold_s": 5, "rest_s": 5}]


@pytest.fixture
def pg():
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.remove()


def clinic(state, *args, secret: str | None = None, check=True, **env):
    environment = {**os.environ, "STATE_DIRECTORY": str(state), "PGPASSWORD": ADMIN_PASSWORD, **env}
    result = subprocess.run(RUGCOACH + ["clinic", *args], cwd=ROOT, env=environment, capture_output=True,
                            text=True, input=secret, timeout=patience(60))
    if check:
        assert result.returncode == 0, result.stderr
    return result


def finished_session(state, patient: str, status: str = "done", reps: int = 2) -> str:
    store = Store(state)
    recorder = store.begin_session(patient, "demo", [{"id": "buiklig-a", "title": "Buiklig", "phase": 1}])
    for n in range(1, reps + 1):
        recorder.hear({"type": "rep", "t": 10.0 * n, "exercise": "buiklig-a", "rep": n, "start": 10.0 * n - 5,
                       "end": 10.0 * n, "held_s": 5.0, "change": 6.0, "verdict": "ok"})
        recorder.write(10.0 * n, 46.0)
    recorder.finish(status)
    uid = recorder.uid
    recorder.close()
    store.close()
    return uid


def link_of(state, name: str) -> ClinicLink:
    found = address(state, None, name)
    assert found is not None
    return ClinicLink(state, found, socket_path=None)


def test_a_practice_with_two_rooms(pg, tmp_path):
    owner = pg.create_database()
    first = clinic(tmp_path, "init", owner)
    assert f"schema 0 -> {schema.SCHEMA_VERSION}" in first.stdout
    assert "nothing changed" in clinic(tmp_path, "init", owner).stdout
    secrets = {room: clinic(tmp_path, "add-box", room, "--url", owner).stdout.strip() for room in ("kamer1", "kamer2")}

    # Room 1 was used alone: an account, a patient with a programme, a finished session
    room1, room2 = tmp_path / "room1", tmp_path / "room2"
    for state in (room1, room2):
        state.mkdir(mode=0o700)
    accounts = Accounts(room1)
    accounts.add(*ANNA, "admin")
    accounts.close()
    patients = Patients(room1)
    patients.add("P-0042", "Mw. Jansen")
    patients.set_programme("P-0042", PROGRAMME)
    patients.close()
    first_session = finished_session(room1, "P-0042")

    joined = clinic(room1, "join", pg.url("rugcoach_kamer1"), "--secret-file", "-", secret=secrets["kamer1"] + "\n")
    assert "1 account(s) and 1 patient(s) uploaded" in joined.stderr, joined.stderr
    kept = json.loads((room1 / "clinic.json").read_text())
    assert secrets["kamer1"] not in (room1 / "clinic.json").read_text() and "rugcoach_kamer1" in kept["url"]
    assert stat.S_IMODE((room1 / "clinic-secret").stat().st_mode) == 0o600
    assert (room1 / "clinic-secret").read_text().strip() == secrets["kamer1"]

    # Room 2 had its own "anna": a clash a person decides, never silently
    accounts = Accounts(room2)
    accounts.add("anna", "een-ander-wachtwoord", "therapist")
    accounts.close()
    refused = clinic(room2, "join", pg.url("rugcoach_kamer2"), "--secret-file", "-", secret=secrets["kamer2"],
                     check=False)
    assert refused.returncode == 2 and "account 'anna'" in refused.stderr and "--keep" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not (room2 / "clinic.json").exists(), "nothing joined, nothing changed"
    clinic(room2, "join", pg.url("rugcoach_kamer2"), "--secret-file", "-", "--keep", "clinic",
           secret=secrets["kamer2"])

    # one login, one patient list, one programme on both boxes
    data1 = open_clinic(room1, address(room1, None, "Kamer 1"))
    data2 = open_clinic(room2, address(room2, None, "Kamer 2"))
    assert data2.accounts.verify(*ANNA) is not None, "room 1's anna logs in in room 2 (the clinic's was kept)"
    assert data2.accounts.verify("anna", "een-ander-wachtwoord") is None
    assert data2.patients.get("P-0042")["exercises"][0]["exercise"] == "buiklig-a"
    data2.patients.add("P-0043")
    data2.patients.set_programme("P-0043", PROGRAMME)
    assert [p["pseudonym"] for p in data1.patients.search("p-004")] == ["P-0042", "P-0043"], "made in room 2"

    # sessions go up by their own id, once
    link1, link2 = link_of(room1, "Kamer 1"), link_of(room2, "Kamer 2")
    assert link1.round()["sessions"] == 1
    assert link1.round()["sessions"] == 0, "sent once"
    second_session = finished_session(room2, "P-0042")
    assert link2.round()["sessions"] == 1
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        uids = sorted(u for (u,) in db.execute("SELECT uid FROM sessions"))
        rooms = dict(db.execute("SELECT uid, box FROM sessions").fetchall())
    assert uids == sorted([first_session, second_session])
    assert rooms == {first_session: "Kamer 1", second_session: "Kamer 2"}
    report = data1.records.report_page("P-0042", "Mw. Jansen")
    assert "2 sessies" in report, "room 1's report has room 2's session too"
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:   # read from the report records: the same page
        whole = [record for (record,) in db.execute("SELECT record FROM sessions WHERE patient = 'P-0042'")]
    from_whole = with_rebuilt(whole, tmp_path, "whole-", lambda store: patient_page(store, "P-0042", "Mw. Jansen"))
    assert MADE_AT.sub("", report) == MADE_AT.sub("", from_whole)

    # every box sees every box
    boxes = data1.clinic.boxes()
    assert [b["name"] for b in boxes] == ["Kamer 1", "Kamer 2"]
    assert all(b["seconds_ago"] < 5 and b["state"] == {"state": "unknown"} for b in boxes), boxes

    # the store away: logins and the next patient from the box's copy; changes refused in Dutch;
    # a session finished meanwhile waits, then goes up once
    data1.clinic.refresh()
    pg.stop()
    assert data1.accounts.verify(*ANNA) is not None
    assert data1.patients.get("P-0043")["exercises"], "the next patient's programme, from the copy"
    with pytest.raises(PatientError) as refusal:
        data1.patients.set_programme("P-0042", PROGRAMME)
    assert str(refusal.value) == AWAY_NL and refusal.value.field == "form"
    assert data1.clinic.status()["reachable"] is False
    meanwhile = finished_session(room1, "P-0043")
    with pytest.raises(StoreAway):
        link1.round()
    status = clinic(room1, "status")
    assert "1 session(s)" in status.stdout and "last problem: the clinic store cannot be reached" in status.stdout
    partial = data1.records.report_page("P-0042", None)
    assert "1 sessie" in partial and "alleen de sessies van deze box" in partial, "this box's, and it says so"
    pg.start()
    link1.db = None
    assert link1.round()["sessions"] == 1
    assert link1.round()["sessions"] == 0
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        assert db.execute("SELECT count(*) FROM sessions WHERE uid = %s", (meanwhile,)).fetchone()[0] == 1
    facts = json.loads(clinic(room1, "status", "--json").stdout)
    assert facts["sessions_waiting"] == 0 and facts["last_problem"] is None and facts["last_reached"]

    # the access log: written on the box, uploaded with the box's name; a NUL typed in a login
    # name (SQLite keeps it, PostgreSQL's text cannot) neither breaks the link nor the console
    data1.accounts.log("login", "refused", account="a\x00b", address="192.168.1.21")
    data1.accounts.log("view_report", "ok", account="anna", address="192.168.1.20", patient="P-0043")
    assert link1.round()["log"] >= 2
    assert data2.clinic.refresh(), "room 2's console finds the store back (its connection was cut)"
    entries = data2.accounts.access_log()
    assert entries[0]["box"] == "Kamer 1" and entries[0]["patient"] == "P-0043"
    assert entries[1]["account"] == "a\ufffdb"
    assert data2.accounts.verify("a\x00b", "whatever-it-is") is None

    # erasure everywhere: room 2 is cut off when room 1 forgets P-0043, and has a session of
    # theirs that was never uploaded: it erases it before it uploads anything
    pending = finished_session(room2, "P-0043")
    gone = records.forget(room1, "P-0043", account="anna")
    assert data1.clinic.refresh(), "the console's round finds the store back"
    assert data1.clinic.forget("P-0043", gone.reference) is True
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        assert db.execute("SELECT count(*) FROM sessions WHERE patient = 'P-0043'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM console_patients WHERE pseudonym = 'P-0043'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM access_log WHERE patient = 'P-0043'").fetchone()[0] == 0
    done = link2.round()
    assert done["erased"] == 1 and done["sessions"] == 0
    store = Store.reader(room2)
    assert store.sessions("P-0043") == [] and pending not in [s.get("uid") for s in store.sessions("P-0042")]
    store.close()
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        assert db.execute("SELECT count(*) FROM sessions WHERE patient = 'P-0043'").fetchone()[0] == 0
    assert data2.patients.get("P-0043") is None
    with pytest.raises(PatientError, match="eerder gewist") as reused:
        data2.patients.add("P-0043")   # a forgotten pseudonym is never given again
    assert reused.value.field == "pseudonym"

    # a forget made while the store is away waits on the box and goes first when it is back:
    # the console's copy never brings the patient back meanwhile
    data1.patients.add("P-0044")
    assert data1.clinic.refresh() and data1.patients.get("P-0044") is not None
    pg.stop()
    gone = records.forget(room1, "P-0044", account="anna")
    assert data1.clinic.forget("P-0044", gone.reference) is False, "kept for later"
    assert clinic(room1, "status").stdout.count("1 erasure(s)") == 1
    pg.start()
    assert data1.clinic.refresh()
    assert data1.patients.get("P-0044") is None and data1.patients.search("P-0044") == []
    assert link_state.waiting(room1)["erasures_waiting"] == 0

    for data in (data1, data2):
        data.close()
    link1.close()
    link2.close()


def test_init_moves_an_older_store_forward_and_a_newer_one_is_refused(pg, tmp_path, monkeypatch):
    owner = pg.create_database()
    uid = finished_session(tmp_path / "box", "P-0042", reps=3)
    with contextlib.closing(Store.reader(tmp_path / "box")) as store:
        record = session_record(store, uid)
    with psycopg.connect(owner, password=ADMIN_PASSWORD, autocommit=True) as db:
        monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
        assert schema.init(db) == (0, 1)                 # the first release's store, with a session in it
        db.execute("INSERT INTO sessions (uid, box_id, box, patient, started, status, record) "
                   "VALUES (%s, 'box-1', 'Kamer 1', 'P-0042', %s, 'done', %s)",
                   (uid, record["session"]["started"], Jsonb(record)))
        monkeypatch.undo()
        with pytest.raises(UserError, match="run `rugcoach clinic init URL` once"):
            schema.check_version(db)                     # a box of this release asks for it
    moved = clinic(tmp_path, "init", owner)
    assert f"schema 1 -> {schema.SCHEMA_VERSION}" in moved.stdout
    with psycopg.connect(owner, password=ADMIN_PASSWORD, autocommit=True) as db:
        # the session stored before has its report record, and from now on every session must
        assert db.execute("SELECT report FROM sessions").fetchone()[0] == json.loads(json.dumps(report_record(record)))
        with pytest.raises(psycopg.errors.NotNullViolation):
            db.execute("INSERT INTO sessions (uid, box_id, box, started, status, record) "
                       "VALUES ('x', 'box-1', 'Kamer 1', '2026-12-06', 'done', '{}')")
        db.execute("UPDATE clinic_schema SET version = 99")
    refused = clinic(tmp_path, "init", owner, check=False)
    assert refused.returncode == 2 and "newer (schema 99)" in refused.stderr and "Traceback" not in refused.stderr


def test_a_box_may_read_and_write_the_clinics_rows_and_nothing_more(pg, tmp_path):
    owner = pg.create_database()
    clinic(tmp_path, "init", owner)
    password = clinic(tmp_path, "add-box", "kamer1", "--url", owner).stdout.strip()
    other = clinic(tmp_path, "add-box", "kamer2", "--url", owner).stdout.strip()
    with psycopg.connect(pg.url("rugcoach_kamer1"), password=password, autocommit=True) as db:
        db.execute("SELECT rugcoach_erase('P-1', 'vergeten-1')")   # forgetting: through the store's function
        db.execute("INSERT INTO boxes (id, name) VALUES ('box-1', 'Kamer 1')")
        # what arrives later naming the forgotten patient: the log gets the reference, a row is refused
        db.execute("INSERT INTO access_log (box, box_id, local_id, at, action, patient, outcome) "
                   "VALUES ('Kamer 1', 'box-1', 7, '2026-12-06T10:00:00Z', 'view_report', 'P-1', 'ok')")
        assert db.execute("SELECT patient FROM access_log WHERE local_id = 7").fetchone()[0] == "vergeten-1"
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute("INSERT INTO console_patients (pseudonym, updated) VALUES ('P-1', 'x')")
        for forbidden in ("DROP TABLE sessions", "CREATE TABLE mine (x int)", "ALTER TABLE accounts ADD COLUMN x int",
                          "DELETE FROM access_log", "UPDATE access_log SET action = 'x'", "TRUNCATE sessions",
                          "UPDATE access_log SET patient = 'x'", "DELETE FROM sessions",
                          "UPDATE sessions SET box = 'x'", "DELETE FROM console_patients", "DELETE FROM accounts",
                          "DELETE FROM boxes",
                          "INSERT INTO erasures (patient_hash, reference) VALUES ('x', 'y')", "DELETE FROM erasures",
                          "UPDATE clinic_schema SET version = 9",
                          "INSERT INTO boxes (id, name, role) VALUES ('box-x', 'X', 'rugcoach_kamer2')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                db.execute(forbidden)   # type: ignore[arg-type]
    with psycopg.connect(pg.url("rugcoach_kamer2"), password=other, autocommit=True) as db:
        changed = db.execute("UPDATE boxes SET console = 'https://elders.example/' WHERE id = 'box-1'")
        assert changed.rowcount == 0, "a box writes its own row only"
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        assert db.execute("SELECT console FROM boxes WHERE id = 'box-1'").fetchone()[0] is None
        assert db.execute("SELECT count(*) FROM erasures").fetchone()[0] == 1
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.url("rugcoach_kamer1"), password="wrong")


def test_an_upload_killed_at_any_moment_never_doubles_or_loses_a_session(pg, tmp_path):
    owner = pg.create_database()
    clinic(tmp_path, "init", owner)
    secret = clinic(tmp_path, "add-box", "kamer1", "--url", owner).stdout.strip()
    state = tmp_path / "room1"
    state.mkdir(mode=0o700)
    clinic(state, "join", pg.url("rugcoach_kamer1"), "--secret-file", "-", secret=secret)
    uids = [finished_session(state, f"P-{n:04d}", reps=1) for n in range(24)]

    # killed between the insert and the mark: the store has it, the box does not know yet
    link = link_of(state, "Kamer 1")

    class Killed(Exception):
        pass

    real_state = link.state

    class DiesBeforeTheMark:
        def execute(self, sql, args=()):
            if sql.startswith("INSERT OR IGNORE INTO sent"):
                raise Killed
            return real_state.execute(sql, args)

    link.state = DiesBeforeTheMark()   # type: ignore[assignment]
    with pytest.raises(Killed):
        link.round()
    link.state = real_state
    link.close()

    # and a real process, kill -9 at random moments
    environment = dict(os.environ, STATE_DIRECTORY=str(state))
    for delay in (0.3, 0.05, 0.5, 0.1, 0.8, 0.02, 0.4, 0.2):
        process = subprocess.Popen(RUGCOACH + ["clinic", "sync"], cwd=ROOT, env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.kill()
        process.wait()
    final = clinic(state, "sync", "--once")
    assert json.loads(final.stdout)["sessions"] >= 0
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        stored = [u for (u,) in db.execute("SELECT uid FROM sessions")]
    assert sorted(stored) == sorted(uids), "each session once, none lost"
    assert link_state.waiting(state)["sessions_waiting"] == 0


def test_tls_to_the_store_with_the_servers_certificate_verified(tmp_path):
    """Over TCP the box asks TLS with the server's certificate verified (verify-full) unless the
    address says otherwise: the right CA connects, encrypted; another CA, or a name the
    certificate does not carry, is refused in one line."""
    from tests.console.test_console_process import free_port
    port = free_port()
    server = PostgresServer().start(tls_port=port)
    try:
        owner = server.create_database()
        clinic(tmp_path, "init", owner)
        secret = clinic(tmp_path, "add-box", "kamer1", "--url", owner).stdout.strip()
        url = f"postgresql://rugcoach_kamer1@localhost:{port}/rugcoach_clinic?sslrootcert={server.ca}"
        from coach.clinic.address import connect, conninfo
        assert "sslmode=verify-full" in conninfo(url, None)
        with connect(url, secret) as db:
            assert db.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
        other = tmp_path / "other-ca.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
                        "-keyout", str(tmp_path / "other.key"), "-out", str(other)], check=True, capture_output=True)
        with pytest.raises(StoreAway, match="certificate verify failed"):
            connect(url.replace(str(server.ca), str(other)), secret)
        with pytest.raises(StoreAway, match="server certificate"):
            connect(url.replace("@localhost:", "@127.0.0.1:"), secret)
        state = tmp_path / "room1"
        state.mkdir(mode=0o700)
        joined = clinic(state, "join", url, "--secret-file", "-", secret=secret)
        assert "joined the clinic store" in joined.stderr
        assert clinic(state, "sync", "--once").returncode == 0
    finally:
        server.remove()


def test_a_forget_sent_late_leaves_no_pseudonym_in_the_links_file(tmp_path):
    """The link's own file holds a forget made while the store was away only until it is sent:
    then the pseudonym is in none of its bytes, WAL included."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    held = link_state.open_state(state)   # the running link's own connection keeps the WAL in use
    try:
        link_state.queue_erasure(state, "P-VERGEET-MIJ", "vergeten-1")
        [(number, _pseudonym, _reference)] = link_state.waiting_erasures(state)
        link_state.erasure_sent(state, number)
        files = [path for path in state.iterdir() if path.name.startswith(link_state.FILE)]
        assert files and all(b"P-VERGEET-MIJ" not in path.read_bytes() for path in files), files
    finally:
        held.close()


def test_a_forgotten_patient_is_out_of_the_stores_files_once_purged(pg, tmp_path):
    """A forget deletes the rows; PostgreSQL keeps their bytes in its files (the test reads them
    there) until `rugcoach clinic purge` writes the tables anew."""
    owner = pg.create_database()
    clinic(tmp_path, "init", owner)
    secret = clinic(tmp_path, "add-box", "kamer1", "--url", owner).stdout.strip()
    room = tmp_path / "room"
    room.mkdir(mode=0o700)
    clinic(room, "join", pg.url("rugcoach_kamer1"), "--secret-file", "-", secret=secret + "\n")
    data = open_clinic(room, address(room, None, "Kamer 1"))
    data.patients.add("P-7731", "Dhr. Vergeetmij")
    data.patients.set_programme("P-7731", PROGRAMME)
    finished_session(room, "P-7731")
    data.accounts.log("view_report", "ok", account="anna", address="192.168.1.20", patient="P-7731")
    link = link_of(room, "Kamer 1")
    assert link.round()["sessions"] == 1
    gone = records.forget(room, "P-7731", account="anna")
    assert data.clinic.forget("P-7731", gone.reference) is True

    def files_naming_the_patient() -> list[str]:
        pg.admin_sql("CHECKPOINT", DATABASE)   # every page on disk
        return sorted(path.name for path in (pg.data / "base").rglob("*") if path.is_file()
                      and any(mark in path.read_bytes() for mark in (b"P-7731", b"Vergeetmij")))

    assert files_naming_the_patient(), "deleted, yet still in the files"
    purged = clinic(tmp_path, "purge", owner)
    assert "sessions:" in purged.stdout and "WAL" in purged.stderr
    assert files_naming_the_patient() == []
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:   # the rest is all there
        assert db.execute("SELECT count(*) FROM access_log WHERE patient = %s", (gone.reference,)).fetchone()[0] >= 1
        assert db.execute("SELECT count(*) FROM boxes").fetchone()[0] == 1

    # while the owner holds the tables (a purge rewriting them), the box's console serves its copy
    # and its link tries again later: neither waits out the rewrite
    data.patients.add("P-7732")
    assert data.clinic.refresh()
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as held:
        held.execute("LOCK TABLE console_patients, sessions IN ACCESS EXCLUSIVE MODE")
        assert data.patients.get("P-7732") is not None, "from the copy"
        assert data.clinic.status()["reachable"] is False
        waiting = finished_session(room, "P-7732")
        with pytest.raises(StoreAway, match="lock timeout"):
            link.round()
    assert data.clinic.refresh() and data.patients.get("P-7732") is not None
    assert link.round()["sessions"] == 1
    with psycopg.connect(owner, password=ADMIN_PASSWORD) as db:
        assert db.execute("SELECT count(*) FROM sessions WHERE uid = %s", (waiting,)).fetchone()[0] == 1

    refused = clinic(tmp_path, "purge", pg.url("rugcoach_kamer1"), check=False, PGPASSWORD=secret)
    assert refused.returncode == 2 and "only the clinic store's owner" in refused.stderr, "a box may not"
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    data.close()
    link.close()
