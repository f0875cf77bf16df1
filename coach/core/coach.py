"""The coaching state machine: walks the patient through a session, driven only by the pressure.

Pure: fed with timestamped samples (`feed`) or the passing of time (`tick`), it returns what to do
as outputs: events (CONTRACT section 5, JSON-ready dicts) and `Play` requests for the audio
adapters. It never sleeps and never touches a device; all its time is the session clock.
The states and transitions are declared in one table below (drawn in docs/state-machine.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transitions import Machine

from coach.api.status import CoachStatus
from coach.core.analysis import REST_WINDOW_S, Analyzer
from coach.core.corrections import CorrectionPolicy
from coach.core.events import BreathingUnseen, Correction, Cue, Event, HelpCalled, Said, SensorStatus, StateChanged
from coach.core.moving import Beat, MovingSet
from coach.core.protocol import Exercise, PhraseBook, Session
from coach.core.thresholds import OFF_PBU_MMHG, ON_PBU_MMHG, leak_level, start_is_off
from coach.core.voice import PAUSE_BETWEEN_SENTENCES, Line, Priority, SpeechTimeline, sentences

STATES = [
    "waiting",         # no session yet (the daemon waits for a patient)
    "positioning",     # welcome, the starting position
    "inflating",       # guiding the pumping to the start pressure
    "measuring_rest",  # the patient lies still: baseline, noise, breathing
    "instructing",     # what to do, before the first repetition of an exercise
    "contracting",     # cue given, waiting for the pressure to reach the target band
    "holding",         # in the band: hold timer, count-down, corrections
    "relaxing",        # hold over: let go
    "resting",         # rest between repetitions, then the next one, exercise or the end
    "moving",          # an exercise without the PBU: counted to a metronome, or timed
    "paused",          # the patient got off the bladder, the sensor is lost, or the therapist paused
    "checking",        # back: is the bladder still at its start pressure?
    "done",
]

ACTIVE = ["measuring_rest", "instructing", "contracting", "holding", "relaxing", "resting"]
RUNNING = ["positioning", "inflating", "checking"] + ACTIVE  # a lost sensor pauses these too

TRANSITIONS = [
    # trigger          source                       destination
    ["start",          "waiting",                   "positioning"],
    ["positioned",     "positioning",               "inflating"],
    ["no_pbu",         "positioning",               "instructing"],
    ["inflated",       "inflating",                 "measuring_rest"],
    ["not_inflated",   "measuring_rest",            "inflating"],
    ["rest_measured",  "measuring_rest",            "instructing"],
    ["instructed",     "instructing",               "contracting"],
    ["start_moving",   ["instructing", "resting"],  "moving"],
    ["set_done",       "moving",                    "resting"],
    ["reached_band",   "contracting",               "holding"],
    ["hold_done",      "holding",                   "relaxing"],
    ["give_up",        ["contracting", "holding"],  "relaxing"],
    ["relaxed",        "relaxing",                  "resting"],
    ["next_rep",       "resting",                   "contracting"],
    ["leaking",        "resting",                   "inflating"],
    ["next_exercise",  "resting",                   "positioning"],
    ["finish",         "resting",                   "done"],
    ["got_off",        ACTIVE,                      "paused"],
    ["lost_sensor",    RUNNING,                     "paused"],
    ["got_back",       "paused",                    "checking"],
    ["start_ok",       "checking",                  "resting"],
    ["start_off",      "checking",                  "inflating"],
    ["abandon",        "paused",                    "done"],
    ["hold_on",        RUNNING,                     "paused"],   # the therapist pauses (console)
    ["reposition",     "checking",                  "positioning"],  # paused before the setup was said
    ["reinstruct",     "checking",                  "instructing"],  # paused before the instructions were
    ["end_now",        [s for s in STATES if s != "done"], "done"],  # the therapist stops
]

CHECK_S = 1.0           # after a pause, this long at the start pressure before going on
INFLATE_HINT_GAP_S = 3.0
LITTLE_ZONE_MMHG = 15.0  # this far below the start pressure: "a little more" (gentle squeezes)
RELAX_S = 2.0
GET_IN_POSITION_S = 8.0  # without the cushion: quiet after the position is named, before "Begin maar"
COUNT_AHEAD_S = 0.3     # "Drie." starts this long before 3 s remain: the word itself takes ~0.4 s
COUNT_LATE_S = 0.7      # a count word not started within this is dropped: never said after its second
# Said after this long (see Coach._urgent): their detectors have debounced them already (a step
# that landed away from the baseline; a rise past the margin on the 0.3 s level)
URGENT_PERSIST_S = {"pelvis_moved": 0.2, "pushing": 0.2}
# A keep-steady level past its band: sooner than the policy's 1 s, but a level hovering at the
# band's edge with its breathing is not told at every breath
STEADY_BAND_PERSIST_S = 0.5
# ... and one clearly past it on the 0.3 s level (Analyzer.far_out_of_band): no breath does that
STEADY_FAR_PERSIST_S = 0.2
ABANDON_S = 300.0       # paused this long (the patient left, the sensor stays away): end quietly
THERAPIST_PAUSE_S = 1800.0  # a therapist's pause forgotten this long ends the session too
# A patient who does not get past a step calls for the therapist instead of hearing the same hint
# for minutes: no step forward (a repetition done, a hold reached, a new exercise) for STUCK_S on
# an exercise on the cushion, or the same correction said UNANSWERED times with the fault still there.
STUCK_S = 120.0
UNANSWERED = 3
# the states where the coach waits for the patient to do something (a hold, a rest, the words of
# the coach take as long as they take: no one is stuck there)
WAITS_ON_PATIENT = ("inflating", "measuring_rest", "contracting", "checking")


@dataclass
class Moments:
    """What has happened in the current state, on the session clock: made anew at every state
    change, so nothing of one state's moments leaks into the next."""

    entered: float                        # the state began
    zone: str | None = None               # inflating: the hint zone said last (more, little, too_much)
    quiet: float | None = None            # measuring_rest: the coach fell silent (the rest counts from here)
    cue: float | None = None              # contracting: "Span nu aan" began (the repetition's start)
    ending: float | None = None           # contracting/holding: the end of the attempt was asked for
    hold_clock: float | None = None       # holding: the hold counts from here (after the hold's words)
    held_at_clock: float | None = None    # holding: the analysis' held_s when the hold clock began
    encouraged: float | None = None       # holding: the encouragement was said


@dataclass(frozen=True)
class Play:
    """Ask the audio adapter to play a sentence or a tone at session time t."""

    t: float
    line: Line

    @property
    def sound(self) -> str:
        return self.line.text


@dataclass(frozen=True)
class Hush:
    """Ask the audio adapter to fade out what it is playing at session time t: an urgent
    correction broke off the sentence (coach.core.voice)."""

    t: float


class Coach:
    """The coaching state machine of one session. Fed `begin`, then `feed(t, mmhg)` per sample and
    `tick(t)` when time passes without one; each returns the outputs (events, Play requests).

    Conventions of the `transitions` library this class relies on (one table, TRANSITIONS):
    - the Machine adds a method per trigger (`self.inflated()`, `self.got_off()`, ...) and the
      `state` attribute; they are declared below so a reader and the type checker know them;
    - `on_enter_<state>` is called by the Machine when a state is entered (queued: a trigger
      fired inside a callback runs after the current transition has finished);
    - `_during_<state>` is ours: `feed` calls the current state's one every sample;
    - after every state change `_on_state_change` emits the `state` event and makes the state's
      `Moments` anew.
    """

    # made by transitions' Machine from STATES and TRANSITIONS
    state: str
    start: Callable[[], bool]
    positioned: Callable[[], bool]
    no_pbu: Callable[[], bool]
    inflated: Callable[[], bool]
    not_inflated: Callable[[], bool]
    rest_measured: Callable[[], bool]
    instructed: Callable[[], bool]
    start_moving: Callable[[], bool]
    set_done: Callable[[], bool]
    reached_band: Callable[[], bool]
    hold_done: Callable[[], bool]
    give_up: Callable[[], bool]
    relaxed: Callable[[], bool]
    next_rep: Callable[[], bool]
    leaking: Callable[[], bool]
    next_exercise: Callable[[], bool]
    finish: Callable[[], bool]
    got_off: Callable[[], bool]
    lost_sensor: Callable[[], bool]
    got_back: Callable[[], bool]
    start_ok: Callable[[], bool]
    start_off: Callable[[], bool]
    abandon: Callable[[], bool]
    hold_on: Callable[[], bool]
    end_now: Callable[[], bool]
    reposition: Callable[[], bool]
    reinstruct: Callable[[], bool]

    def __init__(self, session: Session, duration_of: Callable[[Line], float],
                 policy: CorrectionPolicy | None = None):
        self.session = session
        self.phrases = session.phrases
        self.voice = SpeechTimeline(duration_of)
        self.policy = policy or CorrectionPolicy()
        self.outbox: list = []
        self.t = 0.0
        self.exercise_index = 0
        self.reps_done = 0
        self.sets_done = 0      # exercises without the PBU come in sets
        self._set: MovingSet | None = None   # the set under way of an exercise without the PBU
        self.analyzer = self._new_analyzer()
        self.finished = False
        self.abandoned = False  # ended because nobody came back (the daemon goes idle again)
        self.stopped = False    # ended by the therapist (the console)
        self.machine = Machine(model=self, states=STATES, transitions=TRANSITIONS, initial="waiting",
                               auto_transitions=False, queued=True,
                               after_state_change="_on_state_change")
        self._mark = Moments(entered=self.t)   # what happened in the current state
        self._counter: dict[str, int] = {}  # how often a hint was given (picks the wording)
        self._instructed: set[str] = set()
        self._resuming = False
        self._counted: set[int] = set()   # count-down words said in this hold
        self._pause_reason = "off_pbu"
        self._sensor_lost = False
        self._settled: str = "waiting"      # the state before the current one began (after_state_change)
        self._paused_from: str = "waiting"  # the state a pause interrupted
        self._welcomed = False
        self._position: str | None = None   # the position the pain sentence was last said for
        self._last_verdict: str | None = None   # the last repetition's, for the words after it
        self._helps = 0                     # "show how" hints in this repetition
        self._progress_at = 0.0             # the last step forward (see STUCK_S)
        self._breathing_unseen = False      # the rest just measured shows no breathing to follow
        self._breath_told: set[str] = set()   # exercises whose breathing reminder was said
        self.breathing_not_followed: list[str] = []   # exercises where breath holds were not judged
        self._unanswered: tuple[str, int] = ("", 0)   # a correction, and how often it went unheeded

    # -- inputs ---------------------------------------------------------------------------
    def begin(self, t: float) -> list:
        """Start a session now (the daemon calls this when a patient lies down)."""
        self.t = t
        self._progress_at = t
        self.outbox.append(StateChanged(_r(t), self.state))
        self.start()
        return self._flush()

    def feed(self, t: float, mmhg: float) -> list:
        """One pressure sample at session time t (seconds); returns the outputs it causes."""
        self.t = t
        self.analyzer.feed(t, mmhg)
        if self.state in ACTIVE and self.exercise.uses_pbu and self.analyzer.fast < OFF_PBU_MMHG:
            self._pause_reason = "off_pbu"
            self.got_off()
        during = getattr(self, f"_during_{self.state}", None)
        if during is not None:
            during()
        if self.state in WAITS_ON_PATIENT and self.exercise.uses_pbu and t - self._progress_at >= STUCK_S:
            self._call_therapist("stuck")
        return self._flush()

    def tick(self, t: float) -> list:
        """Time passes without a sample: speech goes on, nothing is judged."""
        self.t = t
        if self.state == "paused":
            self._give_up_waiting()
        elif self.state == "done":
            self._during_done()   # a goodbye said while the sensor is away still ends the session
        return self._flush()

    def sensor_lost(self, t: float) -> list:
        """No samples for a while (silent sensor, cable pulled): pause, keep the session."""
        self.t = t
        self._emit(SensorStatus(_r(t), "lost"))
        self._sensor_lost = True
        if self.state in RUNNING and self.exercise.uses_pbu:  # without the PBU it does not matter
            self._pause_reason = "sensor"
            self.lost_sensor()
        return self._flush()

    def sensor_back(self, t: float) -> list:
        """Samples again: say so, then check the start pressure before going on."""
        self.t = t
        self._emit(SensorStatus(_r(t), "back"))
        self._sensor_lost = False
        if self.state == "paused" and self._pause_reason == "sensor":
            self._say("sensor.back", Priority.SAFETY, on_start=self._cue("resume"))
            self.got_back()
        return self._flush()

    # -- the therapist's requests (the console, through the daemon) ---------------------------
    @property
    def can_pause(self) -> bool:
        """Pausable where a lost sensor would pause it: an exercise on the bladder, under way.
        A metronome or timed exercise has no pause of its own: the therapist stops it."""
        return self.state == "paused" or (self.state in RUNNING and self.exercise.uses_pbu)

    @property
    def paused_by_therapist(self) -> bool:
        """Paused until the therapist goes on: they paused it, or the coach called them."""
        return self.state == "paused" and self._pause_reason in ("therapist", "help")

    def _call_therapist(self, reason: str, kind: str = "") -> None:
        """The patient is stuck: say kindly that the therapist is called, and wait for them (the
        console alerts every therapist; `resume` or `stop` is theirs)."""
        self._emit(HelpCalled(_r(self.t), reason, kind))
        self._pause_reason = "help"
        self.hold_on()

    def pause(self, t: float) -> list:
        """The therapist pauses: the patient hears why and lies still; only `resume` goes on
        (whatever else had paused it: the patient back on the bladder waits for the therapist)."""
        self.t = t
        if self.paused_by_therapist:
            self._pause_reason = "therapist"   # asked twice, or after a call for help: said once
        elif self.state == "paused":
            self._pause_reason = "therapist"
            self.voice.cancel(lambda item: item.priority > Priority.SAFETY)
            self._say("session.paused", Priority.SAFETY, on_start=self._cue("pause"),
                      still_true=lambda: self.paused_by_therapist)
        elif self.can_pause:
            self._pause_reason = "therapist"
            self.hold_on()
        return self._flush()

    def resume(self, t: float) -> list:
        """The therapist goes on after a pause: checked at the start pressure, as after any pause.
        What else keeps the session paused still does: a sensor still away, or a patient who got
        off the bladder meanwhile (the coach then waits for them as it would have)."""
        self.t = t
        if not self.paused_by_therapist:
            return self._flush()
        self._progress_at, self._unanswered = self.t, ("", 0)   # the therapist has seen to it
        if self._sensor_lost:
            self._pause_reason = "sensor"
            self._mark = Moments(entered=self.t)   # the 5 minutes of waiting count from now
            self._say("sensor.lost", Priority.SAFETY, still_true=lambda: self.state == "paused")
        elif self.exercise.uses_pbu and self._paused_from in ACTIVE and self.analyzer.fast < OFF_PBU_MMHG:
            self._pause_reason = "off_pbu"
            self._mark = Moments(entered=self.t)
            self._say("correction.off_pbu", Priority.SAFETY, still_true=lambda: self.state == "paused")
        else:
            self._say("session.resumed", Priority.SAFETY, on_start=self._cue("resume"))
            self.got_back()
        return self._flush()

    def stop(self, t: float) -> list:
        """The therapist ends the session now: a repetition under way is recorded as it was, and
        the patient hears a kind goodbye that says the therapist ended it."""
        self.t = t
        if self.state != "done":
            if self.analyzer.rep is not None:
                self._emit(self.analyzer.end_rep(self.t))
            self.voice.cancel(lambda item: True)
            self.stopped = True
            self.end_now()
        return self._flush()

    @property
    def exercise(self) -> Exercise:
        return self.session.exercises[self.exercise_index]

    def status(self) -> CoachStatus:
        """What the coach is doing now, for the console and `rugcoach status` (no side effects)."""
        exercise = self.exercise
        rep = self.analyzer.rep
        hold_left = None
        if self.state == "holding" and rep is not None:
            hold_left = round(max(0.0, exercise.hold_s - self._held_s(rep, peek=True)), 1)
        in_rep = self.state in ("contracting", "holding") and rep is not None
        band = None
        if in_rep and rep is not None:   # the target band in mmHg, for the console's chart
            band = sorted((_r(rep.baseline + rep.band[0]), _r(rep.baseline + rep.band[1])))
        return CoachStatus(
            state=self.state, t=_r(self.t), exercise=exercise.id, title=exercise.title,
            exercise_number=self.exercise_index + 1, exercises=len(self.session.exercises),
            repetition=(self.reps_done + (1 if in_rep else 0)) if exercise.uses_pbu else self.sets_done,
            repetitions=exercise.repetitions if exercise.uses_pbu else exercise.sets,
            hold_left_s=hold_left, band_mmhg=(band[0], band[1]) if band else None,
            paused=self._pause_reason if self.state == "paused" else None, finished=self.finished)

    # -- outputs --------------------------------------------------------------------------
    def _flush(self) -> list:
        started_now = self.voice.poll(self.t)
        for cut in self.voice.take_cuts():
            self.outbox.append(Hush(_r(cut.t)))
            if cut.item.priority == Priority.INSTRUCTION and self.state != "paused":
                # an instruction broken off by a correction is said again after it, whole, if
                # the coach is still where it was (a cue to draw in is stale once holding); one
                # broken off by a pause is not: the exercise is taken up again after the pause
                state = self.state
                self.voice.say_again(cut.item, lambda state=state: self.state == state)
        for started in started_now:
            line = started.item.line
            self.outbox.append(Play(started.t, line))
            if not line.is_tone:
                self.outbox.append(Said(_r(started.t), line.text, line.key or ""))
        self.outbox += self.analyzer.take_events()
        out, self.outbox = self.outbox, []
        return out

    def _emit(self, event: Event) -> None:
        self.outbox.append(event)

    def _on_state_change(self) -> None:
        self._settled = self.state
        self._mark = Moments(entered=self.t)
        self._emit(StateChanged(_r(self.t), self.state))

    def _cue(self, cue: str) -> Callable[[float], None]:
        """A callback that emits `cue` at the moment the utterance carrying it starts."""
        def emit(t: float) -> None:
            self._emit(Cue(_r(t), cue))
        return emit

    def _wording(self, key: str, repeat: int = 0) -> tuple[str, int]:
        """The text of phrase `key` for its `repeat`-th saying, and which wording that is: the
        exercise's own wordings first, else the phrase book's for the patient's position. The
        wordings are said in turn, so nothing said every repetition sounds the same each time."""
        wordings = (PhraseBook(self.exercise.phrases).wordings(key, self.exercise.position)
                    or self.phrases.wordings(key, self.exercise.position))
        if not wordings:
            return self.phrases.get(key, repeat), 0   # the book's own answer for a missing key
        index = repeat % len(wordings)
        return wordings[index], index

    def _text(self, key: str, repeat: int = 0, **values) -> str:
        text, _ = self._wording(key, repeat)
        return text.format(**values) if values else text

    def _say(self, key: str, priority: Priority = Priority.INSTRUCTION, repeat: int = 0, **kw) -> None:
        values = kw.pop("values", {})
        text, wording = self._wording(key, repeat)
        self.voice.say(text.format(**values) if values else text, priority, key=key, wording=wording, **kw)

    def _hint(self, key: str, priority: Priority = Priority.INSTRUCTION, **kw) -> None:
        """Say `key`, using its next wording each time it is repeated."""
        self._say(key, priority, repeat=self._turn(key), **kw)

    def _turn(self, key: str) -> int:
        """How often `key` was said in this session: its next wording."""
        count = self._counter.get(key, 0)
        self._counter[key] = count + 1
        return count

    def _new_analyzer(self) -> Analyzer:
        return Analyzer.for_exercise(self.exercise)

    def _since(self, moment: str) -> float:
        """Seconds since a moment of the current state (0 when it has not come yet)."""
        at = getattr(self._mark, moment)
        return self.t - (at if at is not None else self.t)

    # -- states ---------------------------------------------------------------------------
    def _stepped_forward(self) -> None:
        self._progress_at, self._unanswered = self.t, ("", 0)

    def on_enter_positioning(self) -> None:
        self._stepped_forward()
        if self.exercise_index == 0 and not self._welcomed:
            self._welcomed = True
            self._say("welcome")
        # Pain means stop: said at the start and at every new position (an exercise without the
        # cushion is a position of its own: a ball, a bridge, one leg).
        position = self.exercise.position
        if position != self._position or position == "free":
            self._position = position
            self._hint("safety.pain")
        if not self.exercise.uses_pbu and self.exercise.id not in self._instructed:
            # Without the cushion, what to do comes first and the position last, with time to
            # get into it: nobody holds a plank on a ball through the instructions.
            self._instruct()
        for index, sentence in enumerate(self.exercise.setup):
            self.voice.say(sentence, Priority.INSTRUCTION, key=f"setup.{self.exercise.id}", wording=index)

    def _during_positioning(self) -> None:
        if self.voice.busy(self.t):
            return
        if self.exercise.uses_pbu:
            self.positioned()
        elif self.t - self.voice.idle_since() >= GET_IN_POSITION_S:
            self.no_pbu()

    def on_enter_inflating(self) -> None:
        if self._settled in ("positioning", "resting"):
            self._progress_at = self.t   # in position, or a leak after a rest: pumping up is the next step
        self._counter.pop("inflate.more", None)
        resuming, self._resuming = self._resuming, False
        if resuming or self.analyzer.fast > self.exercise.start_pressure - self.exercise.start_tolerance:
            # Back on the bladder, or too much air: no "pump it up"; the hints say what to do.
            return
        self._say("inflate.start", on_start=self._cue("inflate"))

    def _during_inflating(self) -> None:
        """Guide the pumping like a therapist watching the dial: "more", "a little more", and
        "stop" the moment the pressure is right (measuring_rest then checks that it holds)."""
        if self.voice.busy(self.t):
            return
        exercise = self.exercise
        error = self.analyzer.fast - exercise.start_pressure  # the pump changes it in steps
        tolerance = exercise.start_tolerance
        if abs(error) <= tolerance:
            self._say("inflate.good")
            self.inflated()
            return
        zone = "more" if error < -LITTLE_ZONE_MMHG else "little" if error < 0 else "too_much"
        quiet_for = self.t - max(self.voice.idle_since(), self._mark.entered)
        if zone == self._mark.zone and quiet_for < INFLATE_HINT_GAP_S:
            return  # said recently; a new zone is announced at once
        self._mark.zone = zone
        if zone == "more":
            self._hint("inflate.more")
        elif zone == "little":
            self._say("inflate.little")
        else:
            self._hint("inflate.too_much")

    def on_enter_measuring_rest(self) -> None:
        self._say("rest.measure")

    def _during_measuring_rest(self) -> None:
        if self.voice.busy(self.t):
            return
        if self._mark.quiet is None:
            self._mark.quiet = self.t
        if self._since("quiet") < REST_WINDOW_S:
            return
        profile = self.analyzer.rest_profile_now(since=self._mark.quiet)
        self._breathing_unseen = not (profile.breathing_followable if self.exercise.target.direction == 0
                                      else profile.breathing_visible)
        if start_is_off(profile.baseline, self.exercise.start_pressure, self.exercise.start_tolerance):
            self.not_inflated()
        else:
            self.rest_measured()

    def on_enter_instructing(self) -> None:
        if self.exercise.id not in self._instructed:
            self._instruct()
        if self._breathing_unseen and self.exercise.id not in self._breath_told:
            # the coach will not hear a held breath here: the patient is reminded, once, up front
            self._breath_told.add(self.exercise.id)
            self._say("explain.breathe")

    def _instruct(self) -> None:
        """What to do, once per exercise, and what the tones mean: the hold's start and end with
        the cushion, the beat of a metronome without it (a set without one has no tones)."""
        self._instructed.add(self.exercise.id)
        for index, sentence in enumerate(self.exercise.instructions):
            self.voice.say(sentence, Priority.INSTRUCTION, key=f"instruction.{self.exercise.id}", wording=index)
        if self.exercise.uses_pbu or self.exercise.metronome:
            self._say("explain.tones")

    def _during_instructing(self) -> None:
        if not self.voice.busy(self.t):
            if self.exercise.uses_pbu:
                self.instructed()
            else:
                self.start_moving()

    # -- exercises without the PBU: by count and tempo, or by time -------------------------
    def on_enter_moving(self) -> None:
        self._set = MovingSet(self.exercise, first=self.sets_done == 0)
        self._carry_out(self._set.opening(self.t))

    def _during_moving(self) -> None:
        assert self._set is not None
        if self._set.step(self.t, self._carry_out, lambda: self.voice.busy(self.t)):
            self._finish_set()

    def _carry_out(self, beats: list[Beat]) -> None:
        for beat in beats:
            if beat.tone:
                self.voice.tone(beat.key, expires_at=beat.expires_at)
            else:
                self._hint(beat.key, beat.priority, expires_at=beat.expires_at)

    def _finish_set(self) -> None:
        self.sets_done += 1
        self.set_done()

    def on_enter_contracting(self) -> None:
        self.policy.reset()
        self._helps = 0
        self._progress_at = self.t   # the next repetition asked for: a step forward
        if self.reps_done == self.exercise.repetitions - 1 and self.reps_done > 0:
            self._say("rest.last")   # said as it comes, not before the rest's silence
        self._hint("contract", on_start=self._begin_rep)

    def _begin_rep(self, t: float) -> None:
        self._progress_at = t   # a repetition begins: a step forward
        self._cue("contract")(t)
        self.analyzer.begin_rep(t)
        exercise = self.exercise.id
        if self.analyzer.breath_holds_judged is False and exercise not in self.breathing_not_followed:
            self.breathing_not_followed.append(exercise)
            self._emit(BreathingUnseen(_r(t), exercise))
        self._mark.cue = t

    def _during_contracting(self) -> None:
        rep = self.analyzer.rep
        if rep is None or self._mark.ending is not None:
            return  # the cue has not been spoken yet, or the end of the attempt has
        if rep.in_band:
            self.voice.tone("hold_start")
            side = self.exercise.side_for(self.reps_done + 1)
            # drawn in and holding: then the limb moves, e.g. "Til nu uw linkerarm op."
            words = [("hold.start", self._turn("hold.start"))] + (
                [(f"side.{side}", self._turn(f"side.{side}"))] if side is not None else [])
            for key, turn in words:
                last = (key, turn) == words[-1]
                self._say(key, repeat=turn, on_start=self._hold_clock_after(key, turn) if last else None)
            self.reached_band()
            return
        fault = self.analyzer.fault_now()
        if fault == "too_weak" and not self.analyzer.settled_short(self.t):
            fault = None   # still drawing in, or not at all yet: not a word about the depth
        self._correct(fault if fault in ("pushing", "too_strong", "breath_hold", "too_weak") else None)
        waited = self._since("cue")
        if waited > self.exercise.contract_timeout_s * (self._helps + 1):
            if self._helps < 1:
                self._helps += 1
                self._hint("contract.help")   # its wordings in turn, repetition after repetition
            else:
                self._end_hold(tone=False)  # let go kindly; judged too_weak or pushing

    def on_enter_holding(self) -> None:
        self._counted = set()
        self._progress_at = self.t   # the band reached: a step forward (a fault in the hold may still go unheeded)

    @property
    def _hold_counts_from_words(self) -> bool:
        """Keep-steady targets are in the band from the first moment, and a limb moves only once
        it is told to: there the hold counts from the end of the hold's words ("Houd dit vast.",
        "Til nu uw linkerbeen op."), or a 5 s hold would be over before the leg is lifted.
        A contraction to a change counts from reaching the band, as the seeds time it."""
        return self.exercise.target.kind == "steady" or bool(self.exercise.sides)

    def _hold_clock_after(self, key: str, turn: int = 0) -> Callable[[float], None]:
        text, wording = self._wording(key, turn)
        parts = sentences(text)
        length = sum(self.voice.duration_of(Line(part, key, wording, index)) for index, part in enumerate(parts))
        length += PAUSE_BETWEEN_SENTENCES * (len(parts) - 1)   # the words end after their pauses

        def start(t: float) -> None:
            self._mark.hold_clock = t + length
        return start

    def _held_s(self, rep, peek: bool = False) -> float:
        """How long this hold has lasted, for its timer (the rep event keeps the analysis' own).
        `peek`: for status(), which must change nothing (the moment the clock began is kept by
        the hold itself, sample by sample)."""
        if not self._hold_counts_from_words:
            return rep.held_s
        clock = self._mark.hold_clock
        if clock is None or self.t < clock:
            return 0.0
        if self._mark.held_at_clock is None:
            if peek:
                return 0.0
            self._mark.held_at_clock = rep.held_s
        return rep.held_s - self._mark.held_at_clock

    def _during_holding(self) -> None:
        rep = self.analyzer.rep
        if rep is None or self._mark.ending is not None:
            return
        hold_s = self.exercise.hold_s
        held_s = self._held_s(rep)
        remaining = hold_s - held_s
        if remaining <= 0:
            self._end_hold(tone=True)
            return
        if self._since("entered") > hold_s + max(10.0, hold_s):
            self._end_hold(tone=True)  # could not keep it up: let go kindly, judged not_held
            return
        # Compensations (breath holding, a moving pelvis) are corrected in the band too; leaving
        # the band is a fault once it outlasts the policy's persistence (longer than the grace).
        self._correct(self.analyzer.fault_now())
        if not rep.in_band:
            return
        if hold_s >= 10 and held_s >= hold_s / 2 and self._mark.encouraged is None:
            self._mark.encouraged = self.t
            self._hint("hold.encourage", Priority.ENCOURAGEMENT, expires_at=self.t + 2.0)
        if hold_s >= 6:
            for n in (3, 2, 1):
                if remaining <= n + COUNT_AHEAD_S and n not in self._counted:
                    self._counted.add(n)
                    self._say(f"count.{n}", Priority.COUNTDOWN, expires_at=self.t + COUNT_LATE_S)

    def _end_hold(self, tone: bool) -> None:
        """Close the repetition at the moment the patient hears that it is over."""
        self._mark.ending = self.t
        self.voice.cancel(lambda item: item.priority >= Priority.ENCOURAGEMENT)
        if tone:
            self.voice.tone("hold_end", on_start=self._end_rep)
            self._hint("relax")
        else:
            self._hint("relax", on_start=self._end_rep)

    def _end_rep(self, t: float) -> None:
        self._cue("relax")(t)
        rep = self.analyzer.end_rep(t)
        self._last_verdict = rep.verdict
        self._emit(rep)
        self._progress_at = self.t   # a repetition done (a correction unheeded in it still counts)
        self.reps_done += 1
        if self.state == "holding":
            self.hold_done()
        elif self.state == "contracting":
            self.give_up()

    def _urgent(self, kind: str | None) -> bool:
        """A correction that cannot wait for the end of a sentence: it breaks off an
        instruction, encouragement or count being spoken. The pelvis moving, bearing down, and
        on a keep-steady exercise any rise or drop past the band (there it means the back or
        the pelvis moved, DOMAIN.md)."""
        return kind in URGENT_PERSIST_S or (self.exercise.target.kind == "steady"
                                             and kind in ("too_strong", "too_weak"))

    def _persistence(self, kind: str | None) -> float | None:
        """How long a fault lasts before it is said (None: the policy's own, 1 s)."""
        if kind in URGENT_PERSIST_S:
            return URGENT_PERSIST_S[kind]
        if not self._urgent(kind):
            return None
        return STEADY_FAR_PERSIST_S if self.analyzer.far_out_of_band() else STEADY_BAND_PERSIST_S

    def _correct(self, fault: str | None) -> None:
        urgent = self._urgent(fault)
        can_speak = not self.voice.pending(Priority.CORRECTION) and (
            not self.voice.speaking(self.t) or (urgent and self.voice.cuttable(self.t)))
        if fault == "pelvis_moved" and "pelvis_moved" not in self.analyzer.compensations.active:
            # a fast step only suspected: nothing else is corrected meanwhile, but the pelvis is
            # named only once the step has landed away from the baseline (letting go lands there)
            can_speak = False
        advice = self.policy.observe(self.t, fault, can_speak, self._persistence(fault))
        if advice is None:
            return
        said, unheeded = self._unanswered
        unheeded = unheeded + 1 if advice.kind == said else 1 if advice.kind != "praise" else 0
        self._unanswered = (advice.kind, unheeded)
        if unheeded > UNANSWERED and self.exercise.uses_pbu:
            self._call_therapist("no_reaction", advice.kind)   # said UNANSWERED times, still wrong
            return
        if advice.kind == "praise":
            self._say("praise", Priority.ENCOURAGEMENT, repeat=advice.repeat, expires_at=self.t + 2.0)
            return
        kind = advice.kind

        def still_true() -> bool:
            return self.analyzer.fault_now() == kind

        def announce(t: float) -> None:
            self._emit(Correction(_r(t), kind))

        key = f"correction.{kind}"
        steady_key = f"correction.steady.{kind}"  # a rise or drop means other things there
        if self.exercise.target.kind == "steady" and self.phrases.wordings(steady_key, self.exercise.position):
            key = steady_key
        self._say(key, Priority.CORRECTION, repeat=advice.repeat, still_true=still_true,
                  on_start=announce, cuts_in=self._urgent(kind))

    def _during_relaxing(self) -> None:
        if not self.voice.busy(self.t) and self._since("entered") >= RELAX_S:
            self.relaxed()

    def on_enter_resting(self) -> None:
        if not self.exercise.uses_pbu:
            last = self.sets_done >= self.exercise.sets
            self._hint("exercise.done" if last else "move.set_done", on_start=self._cue("rest"))
            return
        remaining = self.exercise.repetitions - self.reps_done
        if remaining <= 0:
            self._say("exercise.done", on_start=self._cue("rest"))
            return
        # a good repetition is praised; after one that did not go well, a kind word to go on (once:
        # a repetition cut off by a pause has no verdict of its own, and gets no praise)
        verdict, self._last_verdict = self._last_verdict, None
        self._hint("rest.good" if verdict == "ok" else "rest", on_start=self._cue("rest"))
        if remaining > 1:   # before the last one, "Nu de laatste keer." comes as it begins
            self._say("rest.remaining", values={"n": remaining})

    def _during_resting(self) -> None:
        if self.voice.busy(self.t):
            return
        exercise = self.exercise
        done = self.reps_done >= exercise.repetitions if exercise.uses_pbu else \
            self.sets_done >= exercise.sets
        if not exercise.uses_pbu and not done:
            if self._since("entered") >= exercise.rest_s:
                self.start_moving()
            return
        if done:
            if self.exercise_index + 1 < len(self.session.exercises):
                self.exercise_index += 1
                self.reps_done = self.sets_done = 0
                self.outbox += self.analyzer.finish(self.t)
                self.analyzer = self._new_analyzer()
                self._emit(Cue(_r(self.t), "next"))
                self.next_exercise()
            else:
                self.finish()
            return
        if self._since("entered") < exercise.rest_s:
            return
        if self.analyzer.slow < leak_level(exercise.start_pressure, exercise.start_tolerance,
                                           exercise.target.change):
            self._hint("correction.leak", Priority.SAFETY)
            self.leaking()
            return
        self.next_rep()

    def on_enter_paused(self) -> None:
        self._paused_from = self._settled
        if self.analyzer.rep is not None:
            # The interrupted repetition is recorded as it was, and done again after the pause.
            self._emit(self.analyzer.end_rep(self.t))
        self.voice.cancel(lambda item: item.priority > Priority.SAFETY)
        key = {"sensor": "sensor.lost", "therapist": "session.paused",
               "help": "session.help"}.get(self._pause_reason, "correction.off_pbu")
        # not said (or not finished) once it is no longer true: the sensor or the patient is back;
        # it breaks off a sentence under way (an instruction for a hold that has just stopped)
        self._say(key, Priority.SAFETY, on_start=self._cue("pause"),
                  still_true=lambda: self.state == "paused", cuts_in=True)

    def _give_up_waiting(self) -> None:
        limit = THERAPIST_PAUSE_S if self._pause_reason in ("therapist", "help") else ABANDON_S
        if self._since("entered") >= limit:
            self.abandoned = True
            self.abandon()

    def _during_paused(self) -> None:
        self._give_up_waiting()
        if self.state != "paused":
            return
        if self._pause_reason == "off_pbu" and self.analyzer.fast > ON_PBU_MMHG \
                and self._since("entered") > 2.0:
            self._cue("resume")(self.t)
            self.got_back()

    def on_enter_checking(self) -> None:
        self._stepped_forward()   # back after a pause: the time paused is no time stuck

    def _during_checking(self) -> None:
        """Back on the bladder or the sensor back: go on once the start pressure holds; what the
        pause cut off (the starting position, the instructions) is said again first; after the
        exercise's last repetition there is nothing to pump up for."""
        if self._since("entered") < CHECK_S:
            return
        exercise = self.exercise
        if self._paused_from == "positioning":
            self.reposition()   # the position first; the pumping up follows it, as the first time
            return
        if self._paused_from == "instructing":
            self._instructed.discard(exercise.id)   # said again, whole
        start_holds = not start_is_off(self.analyzer.fast, exercise.start_pressure, exercise.start_tolerance) \
            and self.analyzer.profile is not None
        if exercise.uses_pbu and self.reps_done >= exercise.repetitions:
            self.start_ok()   # the exercise is over: on to the next, which checks its own start
        elif start_holds and self._paused_from == "instructing":
            self.reinstruct()
        elif start_holds:
            self.start_ok()
        else:
            self._resuming = True  # no "pump it up" first: the hints say what to do
            self.start_off()

    def on_enter_done(self) -> None:
        self.outbox += self.analyzer.finish(self.t)
        if self.abandoned:
            self._cue("done")(self.t)  # nobody is listening: no goodbye
            self.finished = True
            return
        self._say("session.stopped" if self.stopped else "session.done", on_start=self._cue("done"))

    def _during_done(self) -> None:
        if not self.voice.busy(self.t):
            self.finished = True


def _r(t: float) -> float:
    return round(t, 3)
