"""A patient's records in the console: the report (the very page `rugcoach report` writes),
the CSV, the export and forget (with the password again, and the pseudonym typed to confirm),
read-only for the console and forgotten by the daemon, which owns them. And a whole box's
records restored on a new box from the console."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from coach.adapters.backup import backup
from coach.adapters.store import Store
from coach.app.simulate import record_simulated_session
from coach.console.accounts import Accounts
from coach.console.patients import Patients
from tests.console.conftest import ADMIN, ConsoleUnderTest
from tests.console.test_console_process import Daemon, wait_for
from tests.patience import patience

pytestmark = pytest.mark.slow


def test_report_csv_export_and_forget_of_a_patient(tmp_path, library):
    sock = tmp_path / "rugcoach.sock"
    daemon = Daemon(tmp_path, library, sock, pumps=False)
    store = Store(daemon.state)
    for seed in (1, 2):
        record_simulated_session(store, "P-0042", library.session(exercise="buiklig-a"), seed=seed)
    record_simulated_session(store, "P-0043", library.session(exercise="buiklig-a"), seed=3)
    store.close()
    console = ConsoleUnderTest(daemon.state, sock).start()
    try:
        daemon.start(once=False)
        assert daemon.started.wait(patience(60)), "the daemon never got armed"
        wait_for(lambda: console.console.link.state == "up", "up")
        admin = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": ADMIN[0], "password": ADMIN[1]}
        assert admin.post("/api/setup", claim).status == 200
        admin.csrf = admin.get("/api/me").json["csrf"]
        admin.post("/api/patients", {"pseudonym": "P-0042", "name": "<b>Jan</b>"})
        report = admin.get("/api/patients/P-0042/report")
        assert report.status == 200 and "Patiënt P-0042" in report.body.decode()
        assert "&lt;b&gt;Jan&lt;/b&gt;" in report.body.decode(), "the name shows as text"
        assert "script-src" not in report.headers["content-security-policy"]
        assert "default-src 'none'" in report.headers["content-security-policy"]
        assert 'href="/api/patients/P-0042/repetitions.csv"' in report.body.decode()
        rows = admin.get("/api/patients/P-0042/repetitions.csv")
        assert rows.status == 200 and rows.headers["content-type"].startswith("text/csv")
        assert len(rows.body.decode().strip().splitlines()) > 10
        assert admin.post("/api/patients/P-0042/export", {"my_password": "fout-wachtwoord"}).status == 403
        export = admin.post("/api/patients/P-0042/export", {"my_password": ADMIN[1]})
        assert export.status == 200
        names = zipfile.ZipFile(io.BytesIO(export.body)).namelist()
        assert "P-0042/patient.json" in names and "P-0042/session-2/trace.csv" in names
        # forget: the pseudonym typed to confirm, the password again
        for body, field in (({"confirm": "P-0043", "my_password": ADMIN[1]}, "confirm"),
                            ({"confirm": "P-0042", "my_password": "fout-wachtwoord"}, "my_password")):
            reply = admin.post("/api/patients/P-0042/forget", body)
            assert reply.status in (400, 403) and reply.json["field"] == field
        reply = admin.post("/api/patients/P-0042/forget", {"confirm": "P-0042", "my_password": ADMIN[1]})
        assert reply.status == 200 and reply.json["sessions"] == 2, reply.body
        assert admin.get("/api/patients/P-0042/report").status == 404
        assert admin.get("/api/patients").json["patients"] == []
        # a patient the console never knew, with sessions in the records, can be forgotten too
        reply = admin.post("/api/patients/P-0043/forget", {"confirm": "P-0043", "my_password": ADMIN[1]})
        assert reply.status == 200 and reply.json["sessions"] == 1
        log = console.console.accounts.access_log()
        assert {"view_report", "download_csv", "export", "forget"} <= {e["action"] for e in log}
        assert all(e["patient"] not in ("P-0042", "P-0043") for e in log), "the pseudonym left the log too"
    finally:
        console.stop()
        daemon.close()
    data = b"".join(p.read_bytes() for p in daemon.state.glob("*.db*"))
    assert b"P-0042" not in data and b"P-0043" not in data, "no trace of the pseudonym in the records' files"


def test_an_admin_downloads_a_consistent_backup_made_by_the_daemon(tmp_path, library):
    from coach.adapters.backup import check
    sock = tmp_path / "rugcoach.sock"
    daemon = Daemon(tmp_path, library, sock, pumps=False)
    store = Store(daemon.state)
    record_simulated_session(store, "P-0042", library.session(exercise="buiklig-a"), seed=2)
    stored = sum(len(store.repetitions(s["id"])) for s in store.sessions("P-0042"))
    store.close()
    console = ConsoleUnderTest(daemon.state, sock).start()
    try:
        daemon.start(once=False)
        assert daemon.started.wait(patience(60)), "the daemon never got armed"
        wait_for(lambda: console.console.link.state == "up", "up")
        admin = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": ADMIN[0], "password": ADMIN[1]}
        assert admin.post("/api/setup", claim).status == 200
        admin.csrf = admin.get("/api/me").json["csrf"]
        admin.post("/api/patients", {"pseudonym": "P-0042", "name": "Jan"})
        reply = admin.post("/api/backup", {"my_password": ADMIN[1]})
        assert reply.status == 200 and reply.body.startswith(b"SQLite format 3\x00")
        assert "attachment" in reply.headers["content-disposition"]
        copy = tmp_path / "downloaded.db"
        copy.write_bytes(reply.body)
        assert check(copy)["repetitions"] == stored > 0 and check(copy)["patients"] == 1
        assert ("backup", f"ok: 1 sessions, {stored} repetitions") in {
            (e["action"], e["outcome"]) for e in console.console.accounts.access_log()}
        assert not list(daemon.state.glob("console-tmp-*")), "nothing of it left on the box"
    finally:
        console.stop()
        daemon.close()
    import sqlite3
    kept = sqlite3.connect(copy)
    assert kept.execute("SELECT name FROM console_patients").fetchall() == [("Jan",)], "the console's data too"
    kept.close()


def test_a_new_box_gets_the_old_ones_records_back_from_the_console(tmp_path, library):
    # the old box: two patients' sessions, the clinic's accounts, a patient's programme
    old = tmp_path / "old"
    store = Store(old)
    for seed in (1, 2):
        record_simulated_session(store, "P-0042", library.session(exercise="buiklig-a"), seed=seed)
    record_simulated_session(store, "P-0043", library.session(exercise="buiklig-a"), seed=3)
    store.close()
    accounts = Accounts(old)
    accounts.add("anna", ADMIN[1], "admin")
    accounts.close()
    patients = Patients(old, library)
    patients.add("P-0042", "Jan", "")
    patients.close()
    saved = backup(old, tmp_path / "backup.db")

    # the new box: a fresh state, claimed by whoever installs it
    sock = tmp_path / "rugcoach.sock"
    (tmp_path / "new").mkdir()
    daemon = Daemon(tmp_path / "new", library, sock, pumps=False)
    console = ConsoleUnderTest(daemon.state, sock).start()
    try:
        daemon.start(once=False)
        assert daemon.started.wait(patience(60)), "the daemon never got armed"
        wait_for(lambda: console.console.link.state == "up", "up")
        installer = console.client().before_login()
        claim = {"code": console.console.setup_code.get(), "name": "installateur", "password": "nieuw-wachtwoord"}
        assert installer.post("/api/setup", claim).status == 200
        installer.csrf = installer.get("/api/me").json["csrf"]
        # refused, with the reason beside the file, and nothing replaced
        for value, field, code in ((b"not a database", "file", "not_sqlite"),
                                   (b"SQLite format 3\x00" + bytes(200), "file", "damaged")):
            reply = installer.post_form("/api/restore", [("my_password", b"nieuw-wachtwoord", None),
                                                          ("file", value, "x.db")])
            assert reply.status == 400 and reply.json["field"] == field and reply.json["code"] == code, reply.body
            assert "Er is niets teruggezet." in reply.json["error"]
        wrong = installer.post_form("/api/restore", [("my_password", b"fout-wachtwoord", None),
                                                     ("file", Path(saved["path"]).read_bytes(), "b.db")])
        assert wrong.status == 403 and wrong.json["field"] == "my_password"
        assert installer.get("/api/me").status == 200, "nothing was replaced"

        reply = installer.post_form("/api/restore", [("my_password", b"nieuw-wachtwoord", None),
                                                     ("file", Path(saved["path"]).read_bytes(), "b.db")])
        assert reply.status == 200, reply.body
        assert (reply.json["patients"], reply.json["sessions"]) == (2, 3)
        # the accounts are the old box's now: this login ended, the clinic's admin logs in
        assert installer.get("/api/me").status == 401
        anna = console.client()
        assert anna.login(*ADMIN).status == 200
        assert [p["pseudonym"] for p in anna.get("/api/patients").json["patients"]] == ["P-0042"]
        report = anna.get("/api/patients/P-0042/report")
        assert report.status == 200 and "Patiënt P-0042" in report.body.decode()
        # the daemon writes the restored records: forgetting works on them
        forgot = anna.post("/api/patients/P-0043/forget", {"confirm": "P-0043", "my_password": ADMIN[1]})
        assert forgot.status == 200 and forgot.json["sessions"] == 1, forgot.body
        outcomes = [(e["action"], e["outcome"]) for e in anna.get("/api/access-log").json["entries"]]
        assert ("restore", f"ok: 2 patients, 3 sessions, {saved['repetitions']} repetitions") in outcomes
    finally:
        console.stop()
        daemon.close()
    after = Store.reader(daemon.state)
    assert len(after.sessions("P-0042")) == 2 and after.sessions("P-0043") == []
    after.close()
