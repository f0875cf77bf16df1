"""Putting one `run` together: config, protocol, audio, speech, source; then the runner."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from coach.adapters.audio import open_sink
from coach.adapters.files import EventWriter, TraceWriter
from coach.adapters.speech import EspeakSynthesizer, PhraseCache
from coach.app.runner import (SerialSource, SessionRunner, SimulatedSource, SoundBank, library_sentences,
                              session_sentences)
from coach.config.protocols import Library
from coach.config.settings import Config, load_config
from coach.core.coach import Coach
from coach.core.corrections import CorrectionPolicy
from coach.errors import UserError

log = logging.getLogger("rugcoach")


def make_sounds(config: Config) -> SoundBank:
    directory = Path(config.cache_dir) if config.cache_dir else None
    cache = PhraseCache(EspeakSynthesizer(), config.voice, directory)
    return SoundBank(cache, config.voice.volume)


class _RepCollector:
    """Keeps the session's repetitions for its record."""

    def __init__(self, reps: list):
        self.reps = reps

    def hear(self, event: dict) -> None:
        if event["type"] == "rep":
            self.reps.append(event)


def record_session(records, config: Config, session, reps: list[dict]) -> dict:
    """Append the session to the patient's record and note (for the therapist, not the patient)
    whether the criteria for the next phase are met."""
    from coach.core.progress import PhaseCriteria, criteria_met, summarise

    patient = records.patient_id
    phases = {exercise.id: exercise.phase for exercise in session.exercises}
    summary = summarise(reps, phases)
    criteria = PhaseCriteria(**config.progress)
    history = records.history() + [summary]
    met = {phase: criteria_met(history, int(phase), criteria) for phase in summary["good_fraction"]}
    record = records.append({**summary, "next_phase_criteria_met": met})
    for phase, ok in met.items():
        if ok:
            log.info("patient %s: the criteria to move on from phase %s are met (%d%% good "
                     "repetitions in %d sessions in a row); the therapist decides", patient, phase,
                     round(criteria.good_fraction * 100), criteria.sessions_in_a_row)
    return record


def sensor_units(config: Config):
    """The sensor's unit from the config, corrected by the stored calibration when it has one."""
    from coach.adapters.serial_sensor import Units
    from coach.config import calibration_store

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


def run_session(args, audio=None) -> int:
    from coach.app.cli import install_signal_handlers

    config = load_config(args.config)
    records = None
    if getattr(args, "patient", None):
        from coach.adapters.records import PatientRecords
        from coach.config.calibration_store import state_dir
        records = PatientRecords(state_dir(), args.patient)  # a bad id: refused before the session
    library = Library()
    session = library.session(protocol=args.protocol or config.protocol, exercise=args.exercise)
    sensor = None
    if not args.simulate:
        port = args.port or config.port
        if not port:
            raise UserError("no sensor given: use --port DEVICE (e.g. /dev/ttyACM0), set 'port:' in "
                            "the config, or try --simulate", exit_code=2)
        from coach.adapters.serial_sensor import SerialSensor
        sensor = SerialSensor(port, config.baudrate, sensor_units(config))
    events = trace = None
    try:
        # A device asked for on the command line must be there; the configured one is waited for.
        audio = audio or open_sink(args.audio or config.audio, required=args.audio is not None)
        events_path = args.events or config.events
        events = EventWriter(events_path) if events_path else None
        trace = TraceWriter(args.trace) if getattr(args, "trace", None) else None
        started = time.monotonic()
        sounds = make_sounds(config)
        new = sounds.cache.prerender(library_sentences(library) + session_sentences(session))
        log.info("speech ready: %d sentence(s) synthesised, the rest from the cache (%.1f s)",
                 new, time.monotonic() - started)
        coach = Coach(session, sounds.duration, CorrectionPolicy(min_gap_s=config.correction_gap_s))
        runner = SessionRunner(coach, sounds, audio, events, trace)
        reps: list[dict] = []
        runner.listeners.append(_RepCollector(reps))
        install_signal_handlers(lambda: setattr(runner, "stop_requested", True))
        if sensor is None:
            from coach.sim.patient import SimulatedPatient
            seed = args.seed if args.seed is not None else int(time.time())
            patient = SimulatedPatient(session, seed=seed)
            runner.listeners.append(patient)
            source = SimulatedSource(patient, rate_hz=args.rate, realtime=audio.realtime)
        else:
            source = SerialSource(sensor, stopped=lambda: runner.stop_requested)
        runner.run(source, sensor=sensor)
        if coach.finished and records is not None:
            record_session(records, config, session, reps)
    finally:
        for part in (audio, events, trace, sensor):
            if part is not None:
                part.close()
    return 0
