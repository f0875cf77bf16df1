"""The records service's forget touches only what holds the patient: a pseudonym may be any name
('console', 'patients', 'rugcoach.db'), and the box's own files stay; leftover copies of the
whole data (a killed backup or restore) go, since the patient is in them."""

from __future__ import annotations

import pytest

from coach.adapters import records
from coach.adapters.store import Store
from coach.app.simulate import record_simulated_session


@pytest.mark.parametrize("pseudonym", ["console", "patients", "rugcoach.db", "console.db"])
def test_a_pseudonym_named_like_the_boxs_own_files_forgets_only_the_patient(tmp_path, library, pseudonym):
    store = Store(tmp_path)
    record_simulated_session(store, pseudonym, library.session(exercise="buiklig-a"), seed=1)
    record_simulated_session(store, "P-keep", library.session(exercise="buiklig-a"), seed=2)
    store.close()
    (tmp_path / "console").mkdir()
    (tmp_path / "console" / "console.crt").write_text("certificate")
    (tmp_path / "patients" / "P-keep").mkdir(parents=True)
    (tmp_path / "patients" / "P-keep" / "sessions.jsonl.imported").write_text("{}")
    leftover = tmp_path / "backup-tmp-x1"
    leftover.mkdir()
    (leftover / "backup.db").write_bytes(b"a copy with the patient in it")
    gone = records.forget(tmp_path, pseudonym)
    assert gone.sessions == 1
    assert (tmp_path / "console" / "console.crt").exists(), "the box's certificate stays"
    assert (tmp_path / "patients" / "P-keep" / "sessions.jsonl.imported").exists()
    assert (tmp_path / "rugcoach.db").exists() and (tmp_path / "console.db").exists()
    assert not leftover.exists(), "a leftover copy of the data held the patient"
    kept = Store.reader(tmp_path)
    assert [p["id"] for p in kept.patients()] == ["P-keep"]
    kept.close()


def test_a_restore_can_be_put_back(tmp_path, library):
    """The daemon puts the replaced files back when the restored records do not open."""
    from coach.adapters.backup import backup, put_back, restore
    box, other = tmp_path / "box", tmp_path / "other"
    for state, patient in ((box, "P-here"), (other, "P-there")):
        store = Store(state)
        record_simulated_session(store, patient, library.session(exercise="buiklig-a"), seed=1)
        store.close()
    made = backup(other, tmp_path / "other.db")
    restore(box, made["path"])
    assert [p["id"] for p in Store.reader(box).patients()] == ["P-there"]
    put_back(box)
    kept = Store.reader(box)
    assert [p["id"] for p in kept.patients()] == ["P-here"] and kept.integrity() == "ok"
    kept.close()
