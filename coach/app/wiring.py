"""The parts every entry point puts together: the sounds, the sensor's units, the records, and
the `Setup` (config, library, programme, patient) a session is coached from.

A leaf of the app layer: it imports core, config and adapters only; the entry points (cli,
simulate, daemon, calibrate) import it, and it imports none of them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from coach.adapters.serial_sensor import Units
from coach.adapters.sounds import SoundBank, SynthesisedVoice
from coach.adapters.speech import EspeakSynthesizer, PhraseCache
from coach.adapters.store import Store, check_patient_id
from coach.adapters.voice_pack import RecordedVoice, VoicePack
from coach.config import calibration_store
from coach.config.paths import cache_dir, state_dir
from coach.config.protocols import Library, load_text
from coach.config.settings import DEFAULT_PROTOCOL, Config, load_config
from coach.core.coach import Coach
from coach.core.corrections import CorrectionPolicy
from coach.core.progress import PhaseCriteria, criteria_met, summarise
from coach.core.protocol import Session
from coach.core.vocabulary import library_sentences, session_sentences
from coach.errors import ProtocolError, UserError

log = logging.getLogger("rugcoach")


def make_sounds(config: Config) -> SoundBank:
    """The voice chain: the config's voice pack first (when it names one), then synthesis."""
    directory = Path(config.cache_dir) if config.cache_dir else cache_dir()
    synthesised = SynthesisedVoice(PhraseCache(EspeakSynthesizer(), config.voice, directory))
    if not config.voice_pack:
        return SoundBank([synthesised], config.voice.volume)
    pack = VoicePack.named(state_dir(), config.voice_pack)
    log.info("voice pack '%s': %d recorded sentence(s), synthesis for the rest", pack.name, len(pack.recordings()))
    return SoundBank([RecordedVoice(pack), synthesised], config.voice.volume)


def sensor_units(config: Config):
    """The sensor's unit from the config, corrected by the stored calibration when it has one."""
    path = Path(config.calibration) if config.calibration else None
    calibration = calibration_store.load(path)
    if calibration is not None and calibration.unit != config.unit:
        log.warning("the stored calibration is for a %s sensor, the config says %s: not used; "
                    "run 'rugcoach calibrate'", calibration.unit, config.unit)
        calibration = None
    if config.unit == "raw" and calibration is None:
        raise UserError("a sensor that sends raw counts needs a calibration first: run "
                        "'rugcoach calibrate --unit raw'", exit_code=2)
    return Units.for_unit(config.unit, calibration)


@dataclass(frozen=True)
class Setup:
    """What the daemon reloads on SIGHUP: validated as a whole before it replaces the old one."""

    config: Config
    library: Library
    session: Session
    protocol: str | None
    patient: str | None

    @classmethod
    def from_values(cls, config_path: str | None = None, protocol: str | None = None,
                    exercise: str | None = None, patient: str | None = None,
                    programme: str | None = None) -> Setup:
        """The config (`config_path`, else the default one), and what to coach for whom: the
        given programme (a patient's own, as protocol text), protocol or exercise, else the
        config's protocol, else the bundled phase 1; the given patient, else the config's.
        Validated as a whole (ProtocolError, UserError)."""
        config = load_config(config_path)
        library = Library()
        if programme is not None:
            own = load_text(programme, Path(f"programme of {patient or 'the patient'}"))
            session = library.session(protocol=own)
            if patient is not None:
                check_patient_id(patient)
            return cls(config, library, session, own.title or "eigen programma", patient or config.patient)
        protocol = protocol or config.protocol
        if protocol is None and exercise is None:
            protocol = DEFAULT_PROTOCOL   # what the installed config file promises
        session = library.session(protocol=protocol, exercise=exercise)
        patient = patient or config.patient
        if patient is not None:
            check_patient_id(patient)
        return cls(config, library, session, protocol or exercise, patient)

    @classmethod
    def from_options(cls, options) -> Setup:
        return cls.from_values(options.config, options.protocol, options.exercise, options.patient)

    def sentences(self) -> list[str]:
        return library_sentences(self.library) + session_sentences(self.session)

    def exercises(self) -> list[dict]:
        return exercises_for_record(self.session)

    def coach(self, sounds: SoundBank) -> Coach:
        return Coach(self.session, sounds.duration,
                     CorrectionPolicy(min_gap_s=self.config.correction_gap_s))


def startup_problems(path: str) -> list[str]:
    """What would stop the daemon from starting with the config at `path`, as `FILE:LINE: ...`
    lines (`rugcoach check` on a config): the programme it names, the patient id, the sensor's
    port and its calibration, beyond the file's own schema (a ProtocolError for that)."""
    config = load_config(path)
    text = Path(path).read_text(encoding="utf-8")

    def at(key: str) -> str:
        match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
        return f"{path}:{text.count(chr(10), 0, match.start()) + 1 if match else 1}: {key}: "

    problems = []
    try:
        Library().session(protocol=config.protocol or DEFAULT_PROTOCOL)
    except ProtocolError as exc:
        problems += [f"{at('protocol')}the programme has problems: {line}" for line in exc.problems]
    except UserError as exc:
        problems.append(f"{at('protocol')}{exc}")
    if config.patient is not None:
        try:
            check_patient_id(config.patient)
        except UserError as exc:
            problems.append(f"{at('patient')}{exc}")
    if not config.port:
        problems.append(f"{at('port')}no sensor port: set e.g. 'port: /dev/ttyACM0' (ls /dev/serial/by-id/)")
    try:
        sensor_units(config)
    except UserError as exc:
        problems.append(f"{at('unit')}{exc}")
    return problems


def exercises_for_record(session: Session) -> list[dict]:
    """A session's exercises as the record keeps them (the report draws their bands)."""
    return [{"id": e.id, "title": e.title, "phase": e.phase, "kind": e.kind,
             "start_pressure": e.start_pressure, "hold_s": e.hold_s, "repetitions": e.repetitions,
             "target": {"kind": e.target.kind, "change": e.target.change,
                        "tolerance": e.target.tolerance}} for e in session.exercises]


def finish_record(store, recorder, setup: Setup, status: str, voices: dict[str, int] | None = None) -> None:
    """Close the session's record, with the sentences each voice spoke (a recorded pack, or
    synthesis); for a finished session of a known patient, note (for the therapist, never the
    patient) whether the criteria for the next phase are met."""
    phases = {exercise.id: exercise.phase for exercise in setup.session.exercises}
    summary = summarise(recorder.reps, phases)
    not_followed = getattr(recorder, "breathing_not_followed", None)
    if not_followed:   # breath holds were not judged there: the report says so
        summary["breathing_not_followed"] = list(not_followed)
    if voices:
        summary["voices"] = dict(voices)
    # the calibration the pressures were measured with (the report names it)
    calibrated = calibration_store.info(Path(setup.config.calibration) if setup.config.calibration else None)
    summary["calibration"] = {"date": calibrated.date, "span_mmhg": calibrated.span_mmhg,
                              "zero": calibrated.offset} if calibrated is not None else None
    met = None
    if setup.patient is not None and status == "done":
        criteria = PhaseCriteria(**setup.config.progress)
        history = store.history(setup.patient) + [summary]
        met = {phase: criteria_met(history, int(phase), criteria) for phase in summary["good_fraction"]}
        for phase, ok in met.items():
            if ok:
                log.info("patient %s: the criteria to move on from phase %s are met (%d%% good "
                         "repetitions in %d sessions in a row); the therapist decides", setup.patient,
                         phase, round(criteria.good_fraction * 100), criteria.sessions_in_a_row)
    recorder.finish(status, summary, met)


def open_store():
    return Store(state_dir())
