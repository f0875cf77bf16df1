"""The clinic store's tables, as numbered migrations (as the box's own files have), and the
roles: `rugcoach clinic init` runs as the database's owner (the practice's IT person) and makes
the group role every box logs in under; `rugcoach clinic add-box` makes one login role per box in
it. A box reads the clinic's rows and adds or changes only what its work needs: no DDL (it owns
no table), no DROP, no TRUNCATE, no DELETE but through `rugcoach_erase` (forgetting a patient)
and on the clashes it decides; the access log and the sessions are append-only for it; its own
row in `boxes` is the only one it can write (row-level security on its role).

The tables mirror the box's console.db (accounts, console_settings, console_patients: the same
columns, so the console's own classes read and write them) plus what only a clinic has: the
boxes, every box's access log, the finished sessions (one JSON record each, by the session's own
id) and the erasures a box that was away must still carry out.
"""

from __future__ import annotations

import hashlib
import re

from coach.errors import UserError

BOX_GROUP = "rugcoach_box"


def patient_hash(pseudonym: str) -> str:
    """What `erasures` knows a forgotten patient by: as rugcoach_erase computes it in SQL."""
    return hashlib.sha256(pseudonym.encode()).hexdigest()


# the tables a console keeps a copy of in the box's console.db, with their columns there
MIRRORED = {
    "accounts": ("name", "role", "password", "created", "totp_secret", "totp_last"),
    "console_settings": ("key", "value"),
    "console_patients": ("pseudonym", "name", "note", "programme", "updated", "volume", "rate_wpm"),
}

_V1 = """
CREATE TABLE accounts (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'therapist')),
    password    TEXT NOT NULL,
    created     TEXT NOT NULL,
    totp_secret TEXT,
    totp_last   BIGINT
);
CREATE TABLE console_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE console_patients (
    pseudonym TEXT PRIMARY KEY,
    name      TEXT,
    note      TEXT,
    programme TEXT,
    updated   TEXT NOT NULL,
    volume    DOUBLE PRECISION,
    rate_wpm  INTEGER
);
CREATE TABLE access_log (
    id       BIGSERIAL PRIMARY KEY,
    box      TEXT NOT NULL,          -- the box's name (its room) when it was written
    box_id   TEXT NOT NULL,
    local_id BIGINT NOT NULL,        -- its number on the box (with its time: a restored box numbers again)
    at       TEXT NOT NULL,
    account  TEXT,
    address  TEXT,
    action   TEXT NOT NULL,
    patient  TEXT,
    outcome  TEXT NOT NULL,
    UNIQUE (box_id, local_id, at)
);
CREATE TABLE boxes (
    id        TEXT PRIMARY KEY,
    role      NAME NOT NULL DEFAULT current_user,   -- the box's database role: only it writes its row
    name      TEXT NOT NULL,
    console   TEXT,                  -- where its console answers
    state     JSONB NOT NULL DEFAULT '{}',
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);
ALTER TABLE boxes ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_box_reads ON boxes FOR SELECT USING (true);
CREATE POLICY a_box_adds_its_own ON boxes FOR INSERT WITH CHECK (role = current_user);
CREATE POLICY a_box_updates_its_own ON boxes FOR UPDATE USING (role = current_user) WITH CHECK (role = current_user);
CREATE TABLE sessions (
    uid      TEXT PRIMARY KEY,       -- the session's own id, drawn on the box
    box_id   TEXT NOT NULL,
    box      TEXT NOT NULL,
    patient  TEXT,
    started  TEXT NOT NULL,
    status   TEXT NOT NULL,
    record   JSONB NOT NULL,
    uploaded TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sessions_by_patient ON sessions (patient, started);
CREATE TABLE erasures (
    id           BIGSERIAL PRIMARY KEY,
    patient_hash TEXT NOT NULL,      -- sha256 of the pseudonym: boxes match it, nobody reads it back
    reference    TEXT NOT NULL,      -- what the access log names the patient by from then on
    at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX erasures_by_hash ON erasures (patient_hash);
CREATE INDEX access_log_by_patient ON access_log (patient);
-- Forgetting a patient, the one way a box deletes: their row, every room's sessions, their
-- pseudonym in the access log, and the erasure every box carries out; under a lock on the
-- patient that an upload takes too, so no session or log entry of theirs slips in beside it. It
-- runs with its owner's rights, so a box needs no DELETE on those tables nor UPDATE on the log;
-- its search_path is the catalogue's alone and every table is named with its schema, so no
-- function a box could make elsewhere is ever called with the owner's rights.
CREATE FUNCTION public.rugcoach_erase(pseudonym TEXT, new_reference TEXT) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE digest TEXT := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pseudonym, 'UTF8')), 'hex');
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(digest)::bigint);
    INSERT INTO public.erasures (patient_hash, reference) VALUES (digest, new_reference);
    DELETE FROM public.console_patients c WHERE c.pseudonym = rugcoach_erase.pseudonym;
    DELETE FROM public.sessions s WHERE s.patient = rugcoach_erase.pseudonym;
    UPDATE public.access_log a SET patient = new_reference WHERE a.patient = rugcoach_erase.pseudonym;
END $$;
-- What a box adds naming a patient forgotten meanwhile (an entry of the access log typed before
-- its box heard of the erasure, a patient row brought back by a join) is caught in the store,
-- under the same lock: the log gets the reference, a patient row is refused.
CREATE FUNCTION public.rugcoach_not_forgotten() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    named TEXT := pg_catalog.to_jsonb(NEW) ->> TG_ARGV[0];   -- the column naming the patient
    digest TEXT;
    found TEXT;
BEGIN
    IF named IS NULL THEN
        RETURN NEW;
    END IF;
    digest := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(named, 'UTF8')), 'hex');
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(digest)::bigint);
    SELECT e.reference INTO found FROM public.erasures e WHERE e.patient_hash = digest ORDER BY e.id LIMIT 1;
    IF found IS NULL THEN
        RETURN NEW;
    END IF;
    IF TG_TABLE_NAME = 'access_log' THEN
        NEW.patient := found;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'patient % was forgotten in this practice', named USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER access_log_not_forgotten BEFORE INSERT ON public.access_log
    FOR EACH ROW EXECUTE FUNCTION public.rugcoach_not_forgotten('patient');
CREATE TRIGGER patients_not_forgotten BEFORE INSERT ON public.console_patients
    FOR EACH ROW EXECUTE FUNCTION public.rugcoach_not_forgotten('pseudonym');
REVOKE ALL ON FUNCTION rugcoach_erase(TEXT, TEXT) FROM PUBLIC;
"""

_V2 = """
-- A clash found when a box joined (an account name or a pseudonym the clinic already had, with
-- other contents), left for an admin to decide in any console: the clinic's stays in force
-- meanwhile, the box's is kept here until then.
CREATE TABLE join_clashes (
    id       BIGSERIAL PRIMARY KEY,
    box      TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('accounts', 'console_patients')),
    key      TEXT NOT NULL,
    box_row  JSONB NOT NULL,
    found    TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

_V3 = """
-- Each session's report record beside its record: what the report reads (the record without its
-- trace, and the trace's summary: each repetition's baseline and the chart's drawing), so a
-- patient's report of every room fetches kilobytes, not each session's whole trace.
ALTER TABLE sessions ADD COLUMN report JSONB;
"""


def _fill_reports(db) -> None:
    """Version 3: the report record of every session stored before, in batches (a long session's
    record is megabytes); then the column is required, as every box sends it."""
    from psycopg.types.json import Jsonb

    from coach.clinic.sessions import report_record
    after = ""
    while True:   # by the primary key: each batch found by the index, not a scan past those done
        rows = db.execute("SELECT uid, record FROM sessions WHERE uid > %s ORDER BY uid LIMIT 50",
                          (after,)).fetchall()
        if not rows:
            break
        with db.cursor() as cursor:
            cursor.executemany("UPDATE sessions SET report = %s WHERE uid = %s",
                               [(Jsonb(report_record(record)), uid) for uid, record in rows])
        after = rows[-1][0]
    db.execute("ALTER TABLE sessions ALTER COLUMN report SET NOT NULL")


# what a box may do, table by table, as each version made them
_GRANTS_V1 = [
    f"GRANT SELECT, INSERT, UPDATE ON accounts, console_settings, console_patients, boxes TO {BOX_GROUP}",
    f"GRANT SELECT, INSERT ON sessions, access_log TO {BOX_GROUP}",
    f"GRANT SELECT ON erasures, clinic_schema TO {BOX_GROUP}",
    f"GRANT USAGE ON SEQUENCE access_log_id_seq TO {BOX_GROUP}",
    f"GRANT EXECUTE ON FUNCTION rugcoach_erase(TEXT, TEXT) TO {BOX_GROUP}",
]
_GRANTS_V2 = [
    f"GRANT SELECT, INSERT, DELETE ON join_clashes TO {BOX_GROUP}",
    f"GRANT USAGE ON SEQUENCE join_clashes_id_seq TO {BOX_GROUP}",
]

# Each entry moves the store one version up (its tables, what fills a new column for the rows
# already there, and the box role's rights on them);
# never edit one that has shipped, add a new one.
MIGRATIONS = [(_V1, _GRANTS_V1, None), (_V2, _GRANTS_V2, None), (_V3, [], _fill_reports)]
SCHEMA_VERSION = len(MIGRATIONS)
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def version(db) -> int:
    row = db.execute("SELECT to_regclass('clinic_schema') IS NOT NULL").fetchone()
    if not row[0]:
        return 0
    return int(db.execute("SELECT version FROM clinic_schema").fetchone()[0])


def check_version(db) -> None:
    found = version(db)
    if found == 0:
        raise UserError("the clinic store is an empty database: prepare it first with `rugcoach clinic init URL`",
                        exit_code=2)
    if found > SCHEMA_VERSION:
        raise UserError(f"the clinic store is newer (schema {found}) than this box knows ({SCHEMA_VERSION}): "
                        f"update RugCoach on this box", exit_code=2)
    if found < SCHEMA_VERSION:
        raise UserError(f"the clinic store has schema {found}, this box needs {SCHEMA_VERSION}: "
                        f"run `rugcoach clinic init URL` once (it moves it forward)", exit_code=2)


def init(db) -> tuple[int, int]:
    """Prepare or move forward the clinic's database (as its owner); (from, to)."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(424242)")   # two inits at once: one after the other
        before = version(db)
        if before > SCHEMA_VERSION:
            raise UserError(f"the clinic store is newer (schema {before}) than this RugCoach ({SCHEMA_VERSION})",
                            exit_code=2)
        if before == 0:
            db.execute("CREATE TABLE clinic_schema (version INTEGER NOT NULL)")
            db.execute("INSERT INTO clinic_schema VALUES (0)")
        if not db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (BOX_GROUP,)).fetchone():
            db.execute(f"CREATE ROLE {BOX_GROUP} NOLOGIN")
        # PostgreSQL before 15 lets every role create in `public`: a box may not (it could
        # put a table or function of its own in the owner's way)
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        if db.execute(f"SELECT has_schema_privilege('{BOX_GROUP}', 'public', 'CREATE')").fetchone()[0]:
            raise UserError("every role may still create in the schema public (PostgreSQL before 15, where the "
                            "superuser owns it): run, as postgres, REVOKE CREATE ON SCHEMA public FROM PUBLIC, "
                            "then clinic init again", exit_code=2)
        for number in range(before + 1, SCHEMA_VERSION + 1):
            tables, grants, backfill = MIGRATIONS[number - 1]
            db.execute(tables)
            if backfill is not None:
                backfill(db)
            for grant in grants:
                db.execute(grant)
            db.execute("UPDATE clinic_schema SET version = %s", (number,))
    return before, SCHEMA_VERSION


def box_role(name: str) -> str:
    role = "rugcoach_" + re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    if not _ROLE_NAME.match(role) or role == BOX_GROUP:
        raise UserError(f"'{name}' does not make a role name: use letters and digits (e.g. kamer2)", exit_code=2)
    return role


def add_box(db, name: str) -> tuple[str, str]:
    """A login role for one box, in the box group; (role, its new password). Run by the owner."""
    import secrets

    from psycopg import sql
    role = box_role(name)
    password = secrets.token_urlsafe(24)
    with db.transaction():
        if db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            db.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        else:
            db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(role), sql.Literal(password), sql.Identifier(BOX_GROUP)))
    return role, password


# Where a patient's data lives in the store, and `boxes` (a box's heartbeat names the patient in
# session, and each beat leaves the one before as a dead row). A forget deletes rows, but
# PostgreSQL keeps their bytes in its files until the space happens to be reused, and a plain
# VACUUM does not overwrite them: VACUUM FULL writes each table and its indexes anew and drops
# the old files (a box does the like to its own files: secure_delete, then VACUUM).
PATIENT_TABLES = ("console_patients", "sessions", "access_log", "join_clashes", "boxes")


def purge(db) -> list[tuple[str, int, int]]:
    """Rewrite the patient tables without what was deleted, as the tables' owner on an
    autocommit connection (VACUUM runs outside a transaction). Each table is locked while it is
    rewritten: the boxes give up waiting after their lock_timeout (address.BOX_LOCK_TIMEOUT_MS),
    their links try again later and their consoles read their copies meanwhile.
    [(table, bytes before, bytes after)]."""
    check_version(db)
    for table in PATIENT_TABLES:   # another role's VACUUM skips the table with a mere warning
        owned = db.execute("SELECT pg_has_role((SELECT relowner FROM pg_class WHERE oid = %s::regclass), 'MEMBER')",
                           (table,)).fetchone()[0]
        if not owned:
            raise UserError("only the clinic store's owner can purge it: give the URL as its owner (as for "
                            "`rugcoach clinic init`)", exit_code=2)
    sizes = []
    for table in PATIENT_TABLES:
        before = db.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]
        db.execute(f"VACUUM (FULL, ANALYZE) {table}")
        after = db.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]
        sizes.append((table, int(before), int(after)))
    return sizes
