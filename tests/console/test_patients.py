"""Patients and their programmes in the console: checked by the code of `rugcoach check`, each
problem in Dutch beside its field, and whatever is saved, `rugcoach check` accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

from coach.config.protocols import load_text
from tests.conftest import ROOT, RUGCOACH


def test_patients_are_added_found_and_refused_with_the_reason_beside_the_field(claimed):
    _server, admin = claimed
    assert admin.post("/api/patients", {"pseudonym": "P-0042", "name": "<script>alert(1)</script>",
                                        "note": "knie"}).status == 200
    assert admin.post("/api/patients", {"pseudonym": "P-0043"}).status == 200
    for body, field, words in (({"pseudonym": "P-0042"}, "pseudonym", "bestaat al"),
                               ({"pseudonym": "Jan de Vries"}, "pseudonym", "pseudoniem"),
                               ({"pseudonym": "P-9", "note": "x" * 501}, "note", "500")):
        reply = admin.post("/api/patients", body)
        assert reply.status == 400 and reply.json["field"] == field and words in reply.json["error"], reply.body
    found = admin.get("/api/patients?q=script").json["patients"]
    assert [p["pseudonym"] for p in found] == ["P-0042"], "found by name too"
    assert len(admin.get("/api/patients").json["patients"]) == 2


def test_a_programme_is_checked_as_rugcoach_check_does_and_what_is_saved_passes_it(claimed, tmp_path):
    server, admin = claimed
    admin.post("/api/patients", {"pseudonym": "P-0042"})
    exercises = admin.get("/api/exercises").json["exercises"]
    ids = {e["id"] for e in exercises}
    assert {"buiklig-a", "ruglig-a"} <= ids and len(ids) >= 10, "the bundled library, phases 1 to 3"
    for items, field, words in (
            ([{"exercise": "buiklig-a", "repetitions": 0}], "exercises.0.repetitions", "Kies een heel getal van 1"),
            ([{"exercise": "buiklig-a"}, {"exercise": "ruglig-a", "hold_s": 900}], "exercises.1.hold_s", "seconden"),
            ([{"exercise": "buiklig-a", "rest_s": "lang"}], "exercises.0.rest_s", "getal"),
            ([{"exercise": "buiklig-x"}], "exercises.0.exercise", "bestaat niet"),
            ([{"exercise": "buiklig-a", "sides": "links"}], "exercises.0.sides", "geen linker- en rechterkant"),
            ([{"exercise": "buiklig-b", "sides": "boven"}], "exercises.0.sides", "Kies welke kant"),
            ([], "exercises", "minstens één")):
        reply = admin.post("/api/patients/P-0042/programme", {"exercises": items})
        assert reply.status == 400 and reply.json["field"] == field and words in reply.json["error"], reply.body
    good = [{"exercise": "buiklig-a", "repetitions": 8, "hold_s": 10, "rest_s": 8},
            {"exercise": "ruglig-a", "repetitions": "6"},
            {"exercise": "buiklig-b", "repetitions": 4, "sides": "rechts"},     # one side only: a painful hip
            {"exercise": "ruglig-b", "sides": "every"}]                         # in turn, not one side first
    assert next(e for e in exercises if e["id"] == "buiklig-b")["sides"] == ["links", "rechts"]
    reply = admin.post("/api/patients/P-0042/programme", {"exercises": good})
    assert reply.status == 200, reply.body
    assert [e["exercise"] for e in reply.json["exercises"]] == ["buiklig-a", "ruglig-a", "buiklig-b", "ruglig-b"]
    assert [e.get("sides") for e in reply.json["exercises"]] == [None, None, "rechts", "every"], "shown as chosen"
    session = server.console.patients.library.session(
        protocol=load_text(server.console.patients.get("P-0042")["programme"], Path("own.yaml")))
    third, fourth = session.exercises[2], session.exercises[3]
    assert [third.side_for(n) for n in (1, 2, 3, 4)] == ["rechts"] * 4
    assert fourth.side_change == "every"
    saved = tmp_path / "programme.yaml"
    saved.write_text(server.console.patients.get("P-0042")["programme"])
    check = subprocess.run(RUGCOACH + ["check", str(saved)], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert admin.post("/api/patients/P-9999/programme", {"exercises": good}).status == 400
    log = [(e["action"], e["patient"]) for e in server.console.accounts.access_log()]
    assert ("set_programme", "P-0042") in log and ("add_patient", "P-0042") in log
