"""`rugcoach clinic ...`: a practice's clinic store from the command line (docs/clinic-store.md).

    init URL             prepare (or move forward) the database, as its owner
    add-box NAME --url   a login role for one box; its password printed once
    join URL             this box becomes part of the practice (its data uploaded once)
    status [--json]      the store's address, when it was last reached, what waits
    sync [--once]        the clinic link (rugcoach-clinic.service runs it)
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from coach.errors import UserError

log = logging.getLogger("rugcoach.clinic")


def add_parser(commands) -> None:
    clinic = commands.add_parser("clinic", help="a practice with several boxes: the clinic store on PostgreSQL")
    actions = clinic.add_subparsers(dest="clinic_command", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="prepare an empty PostgreSQL database as the clinic store "
                                           "(numbered migrations), as its owner")
    init.add_argument("url", metavar="URL", help="libpq URL or service=NAME of the database, as its owner")
    add_box = actions.add_parser("add-box", help="a database role for one box, with only the rights it needs; "
                                                 "prints its password once")
    add_box.add_argument("name", metavar="NAME", help="the box's room, e.g. kamer2")
    add_box.add_argument("--url", required=True, help="the database, as its owner")
    purge = actions.add_parser("purge", help="rewrite the store's patient tables so the rows of forgotten "
                                             "patients are gone from its files too, as its owner")
    purge.add_argument("url", metavar="URL", help="libpq URL or service=NAME of the database, as its owner")
    join = actions.add_parser("join", help="make this box part of the practice: its data uploaded once")
    join.add_argument("url", metavar="URL", help="the clinic store, as this box's role "
                                                 "(postgresql://rugcoach_kamer2@server/clinic)")
    join.add_argument("--secret-file", metavar="FILE", help="read the box's password from FILE "
                                                            "(else it is asked; - reads standard input)")
    join.add_argument("--as-service", action="store_true", help=argparse.SUPPRESS)   # root's join, as the service
    join.add_argument("--keep", choices=("clinic", "box", "console"),
                      help="for every clash, keep the clinic's or this box's, or leave the choice to an admin in "
                           "the console (the clinic's holds until then); else asked one by one")
    status = actions.add_parser("status", help="the store's address, when it was last reached, what waits")
    status.add_argument("--json", action="store_true")
    sync = actions.add_parser("sync", help="the clinic link: upload sessions and the access log, carry out "
                                           "erasures, heartbeat (rugcoach-clinic.service)")
    sync.add_argument("--once", action="store_true", help="one round, then exit (0: done, 1: the store is away)")
    for command in (join, status, sync):
        command.add_argument("--config", help="daemon config (YAML); default /etc/rugcoach/config.yaml")
    sync.add_argument("--socket", metavar="PATH", help="the daemon's control socket")
    clinic.set_defaults(func=cmd_clinic)


def cmd_clinic(args) -> int:
    import psycopg

    from coach.clinic.address import first_line
    try:
        return {"init": _init, "add-box": _add_box, "purge": _purge, "join": _join, "status": _status, "sync": _sync}[
            args.clinic_command](args)
    except psycopg.Error as exc:   # the store refused (a right, a value): one line, not a traceback
        raise UserError(f"the clinic store refused: {first_line(exc)}") from None


def open_console_data(state: Path):
    """The console's data: the box's own, or on a box that joined a clinic store, the clinic's."""
    from coach.clinic.address import address
    from coach.config.settings import load_config
    from coach.console.data import open_local
    try:
        config = load_config(None)
    except UserError as exc:
        log.warning("the config cannot be read (%s): the console uses the box's own data", exc)
        return open_local(state)
    found = address(state, config.clinic, config.name)
    if found is None:
        return open_local(state)
    from coach.clinic.console import open_clinic
    log.info("console data: the clinic store at %s (box %s)", found.url, found.box_name)
    return open_clinic(state, found)


def _owner_connection(url: str):
    from coach.clinic.address import connect
    password = os.environ.get("PGPASSWORD")   # libpq's own ways (~/.pgpass, PGPASSWORD) work too
    return connect(url, password)


def _init(args) -> int:
    from coach.clinic.schema import init
    with _owner_connection(args.url) as db:
        before, after = init(db)
    print(f"clinic store ready (schema {before} -> {after})" if before != after
          else f"clinic store already at schema {after}: nothing changed")
    return 0


def _add_box(args) -> int:
    from coach.clinic.schema import add_box
    with _owner_connection(args.url) as db:
        role, password = add_box(db, args.name)
    print(f"role {role} made; its password (shown once, give it to `rugcoach clinic join` on that box):",
          file=sys.stderr)
    print(password)
    return 0


def _purge(args) -> int:
    from coach.clinic.schema import purge
    with _owner_connection(args.url) as db:
        sizes = purge(db)
    for table, before, after in sizes:
        print(f"{table}: {before / 1024:.0f} kB -> {after / 1024:.0f} kB")
    print("deleted rows are out of the store's files; its WAL and backups made before still hold them until "
          "they are recycled or removed", file=sys.stderr)
    return 0


def _address(args, required: bool = True):
    from coach.clinic.address import address
    from coach.config.paths import state_dir
    from coach.config.settings import load_config
    config = load_config(getattr(args, "config", None))
    found = address(state_dir(), config.clinic, config.name)
    if found is None and required:
        raise UserError("this box is on its own: join a clinic store with `rugcoach clinic join URL`", exit_code=2)
    return found


def _ask_secret(args) -> str | None:
    if args.secret_file == "-":
        return sys.stdin.readline().strip() or None
    if args.secret_file:
        try:
            return Path(args.secret_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise UserError(f"cannot read '{args.secret_file}': {exc.strerror}", exit_code=2) from None
    if sys.stdin.isatty():
        return getpass.getpass("The box's password for the clinic store: ") or None
    return None


def _root_for_the_service() -> bool:
    """Run as root (sudo) on an installed box: the box's files are the service's, and are
    touched as the service (root would leave files, a -shm, it cannot open)."""
    import pwd

    from coach.config.paths import SERVICE_USER
    if os.geteuid() != 0 or os.environ.get("STATE_DIRECTORY"):
        return False
    try:
        pwd.getpwnam(SERVICE_USER)
        return True
    except KeyError:
        return False


def _as_the_service(command: list[str]) -> int:
    """`rugcoach clinic COMMAND...` as the service's user, in its state directory; its exit status
    (a signal that killed it: 1)."""
    from coach.config.paths import SERVICE_STATE, SERVICE_USER
    done = subprocess.run(["runuser", "-u", SERVICE_USER, "--", sys.executable, "-m", "coach", "clinic", *command],
                          cwd="/", env=dict(os.environ, STATE_DIRECTORY=str(SERVICE_STATE)), check=False)
    return done.returncode if done.returncode >= 0 else 1


def _join(args) -> int:
    return _join_as_the_service(args) if _root_for_the_service() else _join_here(args)


def _join_as_the_service(args) -> int:
    """`sudo rugcoach clinic join`: the box's files are the service's (/var/lib/rugcoach, user
    rugcoach), so the join itself runs as that user (root would leave files the service cannot
    open); root then changes the units. The password is asked here, on the terminal, and handed
    over in a file of the service's own that is gone afterwards."""
    import tempfile

    from coach.clinic import address as addresses
    from coach.config.paths import SERVICE_STATE
    if not SERVICE_STATE.is_dir():
        raise UserError(f"{SERVICE_STATE} is missing: install RugCoach first (sudo make install)", exit_code=2)
    for leftover in SERVICE_STATE.glob(".clinic-join-*"):   # a join killed before it cleaned up
        shutil.rmtree(leftover, ignore_errors=True)
    url, in_url = addresses.without_password(args.url)
    secret = in_url or _ask_secret(args)
    command = ["join", url, "--as-service"]
    if args.keep:
        command += ["--keep", args.keep]
    if args.config:
        command += ["--config", args.config]
    with tempfile.TemporaryDirectory(dir=SERVICE_STATE, prefix=".clinic-join-") as folder:
        owner = SERVICE_STATE.stat()
        os.chown(folder, owner.st_uid, owner.st_gid)
        if secret:
            handed = Path(folder) / "secret"
            addresses.write_private(handed, secret + "\n")
            command += ["--secret-file", str(handed)]
        joined = _as_the_service(command)
    if joined != 0:
        return joined
    _restart_units()
    return 0


def _join_here(args) -> int:
    from coach.clinic import address as addresses
    from coach.clinic.join import box_settings, carry_out, plan
    from coach.clinic.schema import check_version
    from coach.config.paths import state_dir
    from coach.config.settings import load_config

    config = load_config(args.config)
    url, in_url = addresses.without_password(args.url)
    secret = in_url or _ask_secret(args)
    state = state_dir()
    with addresses.connect(url, secret, autocommit=True) as db:
        check_version(db)
        joining = plan(db, state)

        def keep(clash) -> str:
            if args.keep:
                return args.keep
            if not sys.stdin.isatty():
                raise UserError(f"{clash.describe()}: say which to keep with --keep clinic, --keep box or "
                                f"--keep console (an admin chooses in the console)", exit_code=2)
            while True:
                answer = input(f"{clash.describe()}. Keep the clinic's (c) or this box's (b)? ").strip().lower()
                if answer in ("c", "b"):
                    return "clinic" if answer == "c" else "box"

        choices = {(c.table, c.key): keep(c) for c in joining.clashes}   # every question before any write
        counts = carry_out(db, joining, lambda c: choices[(c.table, c.key)], box_settings(state),
                           addresses.box_name_of(state, config.name))
    joined = addresses.remember(state, url, secret)
    print(f"joined the clinic store as box {config.name or 'this box'} ({joined['box_id']}): "
          f"{counts['accounts']} account(s) and {counts['patients']} patient(s) uploaded"
          + (f"; clashes: {counts['kept_from_box']} kept from this box, {counts['kept_from_clinic']} from the clinic, "
             f"{counts['left_to_console']} for an admin to decide in the console" if joining.clashes else "")
          + "; finished sessions and the access log follow with the clinic link", file=sys.stderr)
    if not args.as_service:
        _restart_units()
    return 0


DROP_IN = Path("/etc/systemd/system/rugcoach-console.service.d/clinic.conf")


def _restart_units() -> None:
    """Under systemd, as root (`sudo rugcoach clinic join`): the console may reach the network
    (its drop-in), opens the clinic store, and the clinic link starts."""
    if os.geteuid() != 0 or not Path("/run/systemd/system").exists():
        print("then, as root: install systemd/console-clinic.conf as " + str(DROP_IN) + ", systemctl daemon-reload, "
              "systemctl try-restart rugcoach-console, systemctl enable --now rugcoach-clinic", file=sys.stderr)
        return
    source = Path(__file__).resolve().parents[2] / "systemd" / "console-clinic.conf"
    DROP_IN.parent.mkdir(parents=True, exist_ok=True)
    DROP_IN.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    for command in (["systemctl", "daemon-reload"], ["systemctl", "try-restart", "rugcoach-console.service"],
                    ["systemctl", "enable", "--now", "rugcoach-clinic.service"]):
        subprocess.run(command, check=False)
    print("the console uses the clinic store now, and the clinic link runs (rugcoach-clinic.service)", file=sys.stderr)


def _status(args) -> int:
    if _root_for_the_service():
        return _as_the_service(["status"] + (["--json"] if args.json else [])
                               + (["--config", args.config] if args.config else []))
    from coach.clinic import link_state
    from coach.config.paths import state_dir
    found = _address(args, required=False)
    if found is None:
        facts: dict = {"clinic": None}
    else:
        facts = {"clinic": found.url, "box": found.box_name, "box_id": found.box_id,
                 **link_state.waiting(state_dir())}
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    if found is None:
        print("this box is on its own (no clinic store)")
        return 0
    print(f"clinic store: {facts['clinic']} (this box: {facts['box']})")
    print(f"last reached: {facts['last_reached'] or 'never'}"
          + (f"; last problem: {facts['last_problem']}" if facts["last_problem"] else ""))
    print(f"waiting to be uploaded: {facts['sessions_waiting']} session(s), {facts['log_waiting']} access log "
          f"entr{'y' if facts['log_waiting'] == 1 else 'ies'}, {facts['erasures_waiting']} erasure(s)")
    return 0


def _sync(args) -> int:
    from coach.adapters import systemd
    from coach.clinic.address import StoreAway
    from coach.clinic.link import ClinicLink
    from coach.config.paths import control_socket, state_dir

    found = _address(args, required=args.once)
    stopping: list[bool] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    if found is None:   # a box on its own: the unit waits, and starts linking once the box joins
        log.info("this box is on its own: the clinic link waits until it joins a clinic store")
        systemd.notify("READY=1", "STATUS=this box is on its own")
        while found is None and not stopping:
            time.sleep(2.0)
            found = _address(args, required=False)
        if found is None:
            return 0
    link = ClinicLink(state_dir(), found, Path(args.socket) if args.socket else control_socket())
    try:
        if args.once:
            try:
                done = link.round()
            except StoreAway as exc:
                print(str(exc), file=sys.stderr)
                return 1
            print(json.dumps(done))
            return 0
        systemd.notify("READY=1", f"STATUS=clinic link to {found.url}")
        link.run(stop=lambda: bool(stopping))
    finally:
        link.close()
    return 0
