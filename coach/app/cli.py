"""`rugcoach`: the command line (CONTRACT section 2). Every user error is one line, never a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from coach import __version__
from coach.app import clinic_cli
from coach.app.options import RunOptions
from coach.core.calibration import DEFAULT_SPAN_MMHG
from coach.errors import DeviceError, ProtocolError, UserError

log = logging.getLogger("rugcoach")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from coach.app import logs
    logs.setup(args.verbose)
    try:
        return args.func(args) or 0
    except ProtocolError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        _tell_systemd(exc.problems[0] if exc.problems else str(exc))
        return exc.exit_code
    except UserError as exc:
        print(f"rugcoach: {exc}", file=sys.stderr)
        _tell_systemd(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("rugcoach: stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line for the user, the details for the developer
        log.debug("internal error", exc_info=True)
        print(f"rugcoach: internal error: {type(exc).__name__}: {exc} "
              "(run with --verbose for details)", file=sys.stderr)
        if os.environ.get("RUGCOACH_DEBUG"):
            raise
        return 70


def _tell_systemd(problem: str) -> None:
    """Under systemd, `systemctl status rugcoach` shows why it stopped (a no-op elsewhere)."""
    from coach.adapters import systemd
    systemd.notify(f"STATUS=stopped: {problem}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rugcoach", description="A Dutch voice coach for low-back "
                                     "stabilisation training on a pressure biofeedback unit.")
    parser.add_argument("--version", action="version", version=f"rugcoach {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and internal errors)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="coach sessions from a protocol, reading the PBU sensor")
    _session_options(run)
    run.add_argument("--port", help="serial device or pyserial URL of the PBU sensor")
    run.add_argument("--simulate", action="store_true", help="use the built-in simulated patient")
    run.add_argument("--patient", help="the patient's pseudonymous id: the session is added to "
                     "their record, with progress towards the next phase")
    run.add_argument("--once", action="store_true", help="with a sensor: coach one session, then "
                     "exit (the daemon otherwise waits for the next patient)")
    run.add_argument("--clock-events", type=_clock_every, metavar="S",
                     help="with --events and a sensor that sends t_ms: a 'clock' event every S "
                     "seconds (0.05-1) with the sensor's t_ms of the newest sample taken in, so a "
                     "simulated patient faster than real time stays in step (tests)")
    run.add_argument("--socket", metavar="PATH", help="the control socket for the console and "
                     "'rugcoach status' (default: $RUNTIME_DIRECTORY/rugcoach.sock under systemd, "
                     "else beside the records)")
    run.set_defaults(func=cmd_run)

    status = commands.add_parser("status", help="what the running coach is doing, over its socket")
    status.add_argument("--socket", metavar="PATH", help="the daemon's control socket "
                        "(default: the service's, else beside the records)")
    status.add_argument("--json", action="store_true", help="the daemon's status as JSON")
    status.set_defaults(func=cmd_status)

    demo = commands.add_parser("demo", help="a short simulated session, spoken aloud (or to demo.wav)")
    demo.add_argument("--wav", default="demo.wav", help="where to write the audio without a sound card")
    demo.add_argument("--events", help="also write the events to PATH (- for stdout)")
    demo.add_argument("--config", help="daemon config (YAML)")
    demo.set_defaults(func=cmd_demo)

    analyze = commands.add_parser("analyze", help="analyse a recorded trace: events as JSON lines")
    analyze.add_argument("trace", type=Path)
    analyze.add_argument("--exercise", required=True, help="exercise id, e.g. buiklig-a")
    analyze.add_argument("--protocol", help="protocol file or bundled name the exercise is in")
    analyze.set_defaults(func=cmd_analyze)

    check = commands.add_parser("check", help="validate protocol and config files")
    check.add_argument("files", nargs="*", type=Path, help="default: all bundled protocols")
    check.set_defaults(func=cmd_check)

    calibrate = commands.add_parser("calibrate", help="calibrate the pressure sensor, guided by voice")
    calibrate.add_argument("--port", help="serial device or pyserial URL of the sensor")
    calibrate.add_argument("--unit", choices=("mmHg", "kPa", "raw"), help="what the sensor sends")
    calibrate.add_argument("--span", type=float, default=DEFAULT_SPAN_MMHG,
                           help="the pressure (mmHg on the PBU's dial) to pump to in step 2")
    calibrate.add_argument("--audio", help="default, a device, wav:PATH or none")
    calibrate.add_argument("--config", help="daemon config (YAML)")
    calibrate.add_argument("--out", type=Path, help="where to store it (default: the state directory)")
    calibrate.add_argument("--socket", metavar="PATH", help="the running service's control socket: "
                           "while it holds the sensor, it calibrates (default: the service's)")
    calibrate.set_defaults(func=cmd_calibrate)

    sim = commands.add_parser("sensor-sim", help="a simulated PBU sensor on a pseudo-terminal")
    sim.add_argument("--rate", type=float, default=50.0, help="samples per second (10-100)")
    sim.add_argument("--noise", type=float, default=0.15, help="sensor noise (mmHg rms)")
    sim.add_argument("--bare", action="store_true", help="send bare 'mmHg' lines, without t_ms")
    sim.add_argument("--link", type=Path, help="also make this symlink to the device (like udev)")
    sim.add_argument("--events", type=Path, help="follow the coach's events file, so the "
                     "simulated patient hears the coach")
    sim.add_argument("--exercise", default="buiklig-a", help="what the simulated patient expects")
    sim.add_argument("--protocol", help="or the programme the simulated patients expect")
    sim.add_argument("--visitors", action="store_true", help="patients come and go, one after "
                     "another, with faults (the daemon's life)")
    sim.add_argument("--speed", type=float, default=1.0, help="patient seconds per wall second "
                     "(soak tests: 100 or more)")
    sim.add_argument("--first-visit-after", type=float, default=None, metavar="S",
                     help="with --visitors: the first patient comes after S patient seconds "
                     "(default 2 to 4; benchmarks of the idle box use more)")
    sim.add_argument("--garbage-every", type=float, default=0.0, metavar="S",
                     help="send a line of garbage every S patient seconds")
    sim.add_argument("--seed", type=int, default=None)
    sim.set_defaults(func=cmd_sensor_sim)

    report = commands.add_parser("report", help="the therapist's report: HTML with charts, and "
                                 "the repetitions as CSV")
    report.add_argument("--patient", help="only this patient (default: every patient)")
    report.add_argument("--out", type=Path, default=Path("rugcoach-report"),
                        help="folder to write the report to (default: ./rugcoach-report)")
    report.set_defaults(func=cmd_report)

    export = commands.add_parser("export", help="everything stored about a patient: sessions, "
                                 "repetitions, events and traces (CSV, JSON lines)")
    export.add_argument("--patient", required=True)
    export.add_argument("--out", type=Path, help="folder to write to (default: ./rugcoach-export-ID)")
    export.set_defaults(func=cmd_export)

    forget = commands.add_parser("forget", help="remove every trace of a patient from the box "
                                 "(the right to erasure)")
    forget.add_argument("--patient", required=True)
    forget.add_argument("--yes", action="store_true", help="do not ask; needed without a terminal")
    forget.add_argument("--socket", metavar="PATH", help="the daemon's control socket (it forgets when it runs)")
    forget.set_defaults(func=cmd_forget)

    voice = commands.add_parser("voice", help="the therapist's recorded sentences (voice packs)")
    voice_commands = voice.add_subparsers(dest="voice_command", required=True, metavar="ACTION")
    take = voice_commands.add_parser("import", help="take recordings from DIR (named by sentence or phrase key)")
    take.add_argument("folder", type=Path, metavar="DIR")
    coverage = voice_commands.add_parser("status", help="per programme: which sentences are recorded, "
                                         "which are missing")
    coverage.add_argument("--json", action="store_true")
    for command in (take, coverage):
        command.add_argument("--pack", help="the voice pack (default: the config's voice_pack, else 'praktijk')")
        command.add_argument("--config", help="daemon config (YAML)")
    voice.set_defaults(func=cmd_voice)

    backup = commands.add_parser("backup", help="a consistent copy of the records (while the coach runs)")
    backup.add_argument("out", help="the backup file to write (or a folder: a dated name is made in it)")
    backup.add_argument("--socket", metavar="PATH", help="the daemon's control socket (it backs up when it runs)")
    backup.set_defaults(func=cmd_backup)
    restore = commands.add_parser("restore", help="put a backup's records back (between sessions, the console stopped)")
    restore.add_argument("backup", help="a file made by 'rugcoach backup' or the console")
    restore.add_argument("--socket", metavar="PATH", help="the daemon's control socket, to check it is stopped")
    restore.set_defaults(func=cmd_restore)

    console = commands.add_parser("console", help="the therapists' console in the browser (HTTPS), and its "
                                  "setup code and certificate fingerprint")
    console.add_argument("action", nargs="?", default="serve", choices=("serve", "setup-code", "fingerprint"),
                         help="serve (the default): run the console; setup-code: print the one-time code "
                              "that claims a new box; fingerprint: the certificate's SHA-256")
    console.add_argument("--listen", default="", metavar="ADDRESS", help="address to listen on (default: all)")
    console.add_argument("--port", type=int, default=443, help="HTTPS port (default 443)")
    console.add_argument("--http-port", type=int, default=80, metavar="PORT",
                         help="plain HTTP port that only redirects to HTTPS (default 80; 0: none)")
    console.add_argument("--cert", metavar="PEM", help="the clinic's own certificate (default: the box's own)")
    console.add_argument("--key", metavar="PEM", help="the key of --cert")
    console.add_argument("--socket", metavar="PATH", help="the daemon's control socket "
                         "(default: the service's, else beside the records)")
    console.set_defaults(func=cmd_console)

    say = commands.add_parser("say", help="speak TEXT with the configured voice")
    say.add_argument("text")
    say.add_argument("--audio", help="default, a device, wav:PATH or none")
    say.add_argument("--config", help="daemon config (YAML)")
    say.set_defaults(func=cmd_say)
    clinic_cli.add_parser(commands)
    return parser


def _clock_every(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.05 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds from 0.05 to 1 "
                                         "(the simulated patient's lead is 1 s)")
    return value


def _session_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", help="daemon config (YAML); default /etc/rugcoach/config.yaml")
    command.add_argument("--protocol", help="protocol file, or the name of a bundled one")
    command.add_argument("--exercise", help="coach just this exercise, e.g. buiklig-a")
    command.add_argument("--audio", help="default, a sound device name, wav:PATH or none")
    command.add_argument("--events", help="write events as JSON lines to PATH (- for stdout)")
    command.add_argument("--trace", help="write the session's trace (t,mmhg,cue) to PATH")
    command.add_argument("--seed", type=int, default=None, help="simulated patient's seed")
    command.add_argument("--rate", type=float, default=50.0, help="simulated sample rate (Hz)")


def run_options(args) -> RunOptions:
    return RunOptions(config=args.config, protocol=args.protocol, exercise=args.exercise,
                      patient=getattr(args, "patient", None), port=getattr(args, "port", None),
                      audio=args.audio, events=args.events, trace=args.trace, seed=args.seed,
                      rate=args.rate, once=getattr(args, "once", False),
                      clock_events=getattr(args, "clock_events", None), socket=getattr(args, "socket", None))


def cmd_run(args) -> int:
    from coach.app.wiring import Setup

    options = run_options(args)
    setup = Setup.from_options(options)
    if args.simulate:
        from coach.app.simulate import run_simulated
        return run_simulated(options, setup)
    port = options.port or setup.config.port
    if not port:
        raise UserError("no sensor given: use --port DEVICE (e.g. /dev/ttyACM0), set 'port:' in "
                        "the config, or try --simulate", exit_code=2)
    from coach.app.daemon import Daemon
    return Daemon(options, setup, port).run()


def cmd_status(args) -> int:
    from coach.adapters.control_client import DaemonClient
    from coach.api.wire import to_wire
    from coach.app.status_view import describe
    from coach.config.paths import control_socket

    with DaemonClient(args.socket or control_socket()) as client:
        status = client.status()
    print(json.dumps(to_wire(status), ensure_ascii=False, indent=2) if args.json else describe(status))
    return 0


def cmd_backup(args) -> int:
    import shutil
    import tempfile

    from coach.adapters.backup import backup
    from coach.adapters.control_client import socket_answers
    from coach.adapters.store import private_files
    from coach.api import methods as api
    from coach.config.paths import control_socket, state_dir

    out = Path(args.out)
    if out.is_dir():
        out = out / f"rugcoach-backup-{time.strftime('%Y%m%d-%H%M%S')}.db"
    if not out.parent.exists():
        raise UserError(f"cannot write the backup '{out}': folder '{out.parent}' does not exist")
    def through_the_coach(client):   # the coach writes the copy into its folder; out of it, it is ours
        with tempfile.TemporaryDirectory(dir=state_dir(), prefix="backup-tmp-") as folder:
            made = client.call(api.BACKUP, api.BackupParams(str(Path(folder) / "backup.db")))
            with private_files():   # health data and password hashes: 0600, as the coach made it
                try:
                    shutil.copyfile(made.path, out)
                    os.chmod(out, 0o600)
                except OSError as exc:
                    raise UserError(f"cannot write the backup '{out}': {exc.strerror}") from None
        return made

    path = args.socket or control_socket()
    if socket_answers(path):   # the daemon owns the records while it runs: it makes the backup
        made = _ask_the_coach(path, through_the_coach)
        print(f"The coach backed up {made.patients} patient(s), {made.sessions} session(s), "
              f"{made.repetitions} repetition(s) to {out}")
        return 0
    made = backup(state_dir(), out)
    print(f"The coach is not running: backed up {made['patients']} patient(s), {made['sessions']} session(s), "
          f"{made['repetitions']} repetition(s) from the files to {made['path']}")
    return 0


def cmd_restore(args) -> int:
    import shutil
    import tempfile

    from coach.adapters.backup import check, restore
    from coach.adapters.control_client import socket_answers
    from coach.api import methods as api
    from coach.config.paths import control_socket, state_dir

    path = args.socket or control_socket()
    if socket_answers(path):
        # The daemon owns the records while it runs: it swaps the backup in, between sessions,
        # from a copy in the records' folder (the only place it reads a backup from).
        check(Path(args.backup))   # a bad file is refused here, in one line, before anything

        def through_the_coach(client):
            with tempfile.TemporaryDirectory(dir=state_dir(), prefix="restore-tmp-") as folder:
                copy = Path(folder) / "restore.db"
                shutil.copyfile(args.backup, copy)
                return client.call(api.RESTORE, api.RestoreParams(str(copy)))

        restored = _ask_the_coach(
            path, through_the_coach,
            refused_hint=" (the console holds the box's data while it runs: restore in the console, Back-up "
                         "terugzetten, or stop it: sudo systemctl stop rugcoach-console)",
            silent_hint="stop it first (sudo systemctl stop rugcoach rugcoach-console), then restore, then "
                        "start it again")
        print(f"The coach restored {restored.patients} patient(s), {restored.sessions} session(s), "
              f"{restored.repetitions} repetition(s)")
        return 0
    made = restore(state_dir(), Path(args.backup))
    print(f"The coach is not running: restored {made['patients']} patient(s), {made['sessions']} session(s), "
          f"{made['repetitions']} repetition(s) into the files in {state_dir()}")
    return 0


def cmd_console(args) -> int:
    import asyncio

    from coach.console import certificate
    from coach.console.serve import console_dir, open_console, serve
    from coach.console.setup_code import SetupCode

    if args.action == "setup-code":
        from coach.adapters.store import private_files
        from coach.config.paths import state_dir
        from coach.console.accounts import Accounts
        with private_files():
            accounts = Accounts(state_dir())
        try:
            if accounts.count():
                raise UserError("this box has been claimed: an admin makes new accounts in the console")
        finally:
            accounts.close()
        print(SetupCode(console_dir()).get())
        return 0
    if bool(args.cert) != bool(args.key):
        raise UserError("--cert and --key go together (the clinic's certificate and its key)")
    cert, key = (Path(args.cert), Path(args.key)) if args.cert else certificate.ensure(console_dir())
    if args.action == "fingerprint":
        print(f"SHA-256 {certificate.fingerprint(cert)}")
        return 0
    console = open_console(socket_path=Path(args.socket) if args.socket else None,
                           open_data=clinic_cli.open_console_data)
    from coach.adapters import systemd

    def ready(_addresses):
        systemd.notify("READY=1", "STATUS=serving the console")

    asyncio.run(serve(console, args.listen or None, args.port, args.http_port or None, cert, key, ready))
    return 0


def cmd_voice(args) -> int:
    from coach.adapters.loudness import TARGET_LUFS
    from coach.adapters.voice_pack import VoicePack
    from coach.app import voice
    from coach.config.paths import state_dir
    from coach.config.protocols import Library
    from coach.config.settings import load_config

    config = load_config(args.config)
    pack = VoicePack.named(state_dir(), args.pack) if args.pack else voice.default_pack(config)
    library = Library()
    programmes = voice.programme_lines(library)
    if args.voice_command == "import":
        if not args.folder.is_dir():
            raise UserError(f"{args.folder}: not a folder", exit_code=2)
        lines = [line for lines in programmes.values() for line in lines]
        report = voice.import_folder(args.folder, pack, lines, library.phrases)
        for name, line in report.taken:
            print(f"  taken    {name}: {line.key}: {line.text}", file=sys.stderr)
        for name, reason in report.refused:
            print(f"  refused  {name}: {reason}", file=sys.stderr)
        print(f"voice pack '{pack.name}': {len(report.taken)} sentence(s) taken, {len(report.refused)} file(s) "
              f"refused; at {TARGET_LUFS:g} LUFS, the level of the synthesised voice", file=sys.stderr)
        return 0 if not report.refused else 1
    result = voice.coverage(pack, programmes)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    print(f"voice pack '{pack.name}'" + ("" if config.voice_pack == pack.name else
          " (not in use: set voice_pack in the config)"))
    for name, part in result["programmes"].items():
        print(f"  {name}: {part['recorded']} of {part['sentences']} sentences recorded, "
              f"{len(part['missing'])} missing")
    if result["outdated"]:
        print(f"  outdated (the wording changed since): {len(result['outdated'])}")
        for key, text in result["outdated"]:
            print(f"    {key}: {text}")
    return 0


def cmd_demo(args) -> int:
    from coach.adapters.audio import open_sink
    from coach.app.simulate import run_simulated
    from coach.app.wiring import Setup

    try:
        sink = open_sink("default")
    except DeviceError:
        print(f"No sound device found: writing the session's audio to {args.wav} instead.",
              file=sys.stderr)
        sink = None
    options = RunOptions(config=args.config, protocol="demo", events=args.events,
                         audio="default" if sink is not None else f"wav:{args.wav}")
    code = run_simulated(options, Setup.from_options(options), audio=sink)
    if sink is None and code == 0:
        print(f"Wrote {args.wav}: play it with 'aplay {args.wav}' or any audio player.", file=sys.stderr)
    return code


def cmd_analyze(args) -> int:
    from coach.adapters.files import EventWriter, read_trace
    from coach.config.protocols import Library
    from coach.core.analysis import Analyzer, replay

    exercise = Library().session(protocol=args.protocol, exercise=args.exercise).exercises[0]
    out = EventWriter("-")
    rows = ((t, mmhg, cue) for _line, t, mmhg, cue in read_trace(args.trace))
    for event in replay(Analyzer.for_exercise(exercise), rows):
        out.write(event.as_dict())
    return 0


def cmd_check(args) -> int:
    from coach.app.wiring import startup_problems
    from coach.config.protocols import Library, bundled_dir, load_file

    files = args.files or sorted(bundled_dir().glob("*.yaml"))
    problems: list[str] = []
    try:
        known = Library().exercises
    except ProtocolError:
        known = {}  # the bundled files' own problems are reported below, one by one
    for path in files:
        try:
            if path.name.startswith("config"):
                problems += startup_problems(str(path))   # the daemon starts with it, or it is refused
                _say_what_the_console_overrides()
            else:
                problems += load_file(path).programme_problems(known)
        except ProtocolError as exc:
            problems += exc.problems
        except UserError as exc:
            problems.append(str(exc) if str(exc).startswith(str(path)) else f"{path}:1: {exc}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    print(f"{len(files)} file(s) valid", file=sys.stderr)
    return 0


def _say_what_the_console_overrides() -> None:
    from coach.config import box_settings

    kept = box_settings.load()
    if kept:
        print(f"the settings changed in the console ({box_settings.path()}) win over this file for: "
              f"{', '.join(box_settings.overridden(None, kept))}", file=sys.stderr)


def cmd_say(args) -> int:
    import time

    from coach.adapters.audio import open_sink
    from coach.adapters.speech import SAMPLE_RATE
    from coach.app.wiring import make_sounds
    from coach.config.settings import load_config
    from coach.core.voice import PAUSE_BETWEEN_SENTENCES, sentences

    config = load_config(args.config)
    sink = open_sink(args.audio or config.audio)
    sounds = make_sounds(config)
    clips = [sounds.samples(sentence) for sentence in sentences(args.text)]
    if not clips:
        raise UserError("nothing to say: give a sentence, e.g. rugcoach say \"Span nu aan.\"", exit_code=2)
    sink.start()
    t = 0.0
    for clip in clips:
        sink.play(t, clip)
        length = len(clip) / SAMPLE_RATE + PAUSE_BETWEEN_SENTENCES
        t += length
        if sink.realtime:
            time.sleep(length)
    sink.close()
    return 0


def cmd_calibrate(args) -> int:
    from coach.adapters.control_client import DaemonClient, NotRunning
    from coach.app.calibrate import calibrate_through_daemon, run_calibration
    from coach.config.paths import control_socket

    # The service holds the sensor: it calibrates, and this is its client. With a --port of
    # another sensor (or no service), this command opens the port itself.
    client = DaemonClient(args.socket or control_socket(), timeout=10.0)
    try:
        held = client.connect().status().sensor.port
    except NotRunning:
        held = None
    if held is not None and (args.port is None or os.path.realpath(args.port) == os.path.realpath(held)):
        if args.unit or args.out:
            print("rugcoach: the service holds the sensor and calibrates it with its own config: "
                  "--unit and --out are not used", file=sys.stderr)
        with client:
            return calibrate_through_daemon(client, args.span)
    client.close()
    return run_calibration(port=args.port, unit=args.unit, span=args.span, audio=args.audio,
                           config_path=args.config, out=args.out)


def cmd_report(args) -> int:
    from coach.app.wiring import open_store
    from coach.report.build import write_reports

    store = open_store()
    try:
        written = write_reports(store, args.out, patient=args.patient)
    finally:
        store.close()
    print(f"Wrote the report to {written}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from coach.app.wiring import open_store
    from coach.report.export import export_patient

    store = open_store()
    try:
        out = export_patient(store, args.patient, args.out or Path(f"rugcoach-export-{args.patient}"))
    finally:
        store.close()
    print(f"Exported patient {args.patient} to {out}", file=sys.stderr)
    return 0


def cmd_forget(args) -> int:
    from coach.adapters import records
    from coach.adapters.control_client import socket_answers
    from coach.adapters.store import check_patient_id
    from coach.api import methods as api
    from coach.api.wire import ErrorCode
    from coach.config.paths import control_socket, state_dir

    check_patient_id(args.patient)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("forget removes every record of the patient for good: add --yes to "
                            "confirm", exit_code=2)
        answer = input(f"Remove every record of patient {args.patient} for good? Type the id to "
                       "confirm: ")
        if answer.strip() != args.patient:
            print("Nothing removed.", file=sys.stderr)
            return 1
    who = f"shell:{_login_name()}"
    path = args.socket or control_socket()
    if socket_answers(path):   # the daemon owns the records while it runs: it forgets, between sessions
        gone = _ask_the_coach(path, lambda client: client.call(api.FORGET, api.ForgetParams(args.patient, account=who)),
                              usage_codes=(ErrorCode.INVALID, ErrorCode.NOT_FOUND))
        print(f"The coach removed patient {args.patient} and {gone.sessions} session(s) from the box",
              file=sys.stderr)
        return 0
    gone = records.forget(state_dir(), args.patient, account=who)
    print(f"The coach is not running: removed patient {args.patient} and {gone.sessions} session(s) "
          f"from the files in {state_dir()} directly", file=sys.stderr)
    return 0


def _ask_the_coach(path, ask, refused_hint: str = "", silent_hint: str = "try again in a moment",
                   usage_codes: tuple = ()):
    """`ask(client)` of the coach that answers on `path`: it owns the records while it runs, so
    what it refuses, or a silence, is said in one line and the files are never touched under it.
    A refusal with a code in `usage_codes` exits 2 (the command was given wrong), else 1."""
    from coach.adapters.control_client import DaemonClient, DaemonError, NotRunning
    try:
        with DaemonClient(path) as client:
            return ask(client)
    except DaemonError as exc:
        raise UserError(f"the coach refused: {exc}{refused_hint}",
                        exit_code=2 if exc.code in usage_codes else 1) from None
    except NotRunning as exc:
        raise UserError(f"the coach runs but does not answer ({exc}); {silent_hint}") from None


def _login_name() -> str:
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def cmd_sensor_sim(args) -> int:
    from coach.app.sensor_sim import SimOptions, run_sensor_sim
    return run_sensor_sim(SimOptions(**{name: getattr(args, name.replace("-", "_"))
                                        for name in SimOptions.__dataclass_fields__}))
