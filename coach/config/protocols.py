"""Loading and validating protocol files (YAML) into the core's plain data (coach.core.protocol).

Three kinds of content, which may share a file:
  phrases:    the Dutch sentences by key (protocols/phrases.yaml holds the shared ones)
  exercises:  exercise definitions with default doses
  programme:  a patient's list of exercises with their own doses
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coach.config.schema import (
    Boolean,
    ByVariant,
    ListOf,
    MapOf,
    Number,
    OneOf,
    Problems,
    Record,
    Tagged,
    Text,
    decode_text,
    load_nodes,
)
from coach.core.protocol import (
    DEFAULT_VARIANT,
    VARIANT_NAMES,
    Exercise,
    PhraseBook,
    Session,
    Target,
    merge_phrases,
    variant_key,
)
from coach.core.vocabulary import SIDES, phrase_keys
from coach.errors import ProtocolError, UserError

POSITIONS = ("prone", "supine", "sitting", "standing")
PLACEMENTS = ("under_belly", "under_low_back", "low_back")

SENTENCES = ListOf(Text(), min_items=1)
# a key's wordings, or its wordings per position: {buik: ..., rug: ..., zit: ..., staan: ...,
# geen: ...} with `standaard` for the positions not named
PHRASES = MapOf(OneOf(SENTENCES, ByVariant(SENTENCES, VARIANT_NAMES, DEFAULT_VARIANT, len(VARIANT_NAMES) - 1)),
                keys=phrase_keys(), keys_are="phrase key")

TARGET = Record({
    "kind": (Text(choices=("change", "steady")), True),
    "change": (Number(-40, 40, unit="mmHg"), False),
    "tolerance": (Number(0.5, 20, unit="mmHg"), True),
}, defaults={"change": 0.0})

DOSE = {
    "hold_s": (Number(1, 120, unit="s"), False),
    "repetitions": (Number(1, 50, integer=True), False),
    "rest_s": (Number(0, 120, unit="s"), False),
}

EXERCISE = Record({
    "kind": (Text(choices=("pbu",)), False),
    "id": (Text(), True),
    "title": (Text(), True),
    "phase": (Number(1, 3, integer=True), True),
    "position": (Text(choices=POSITIONS), True),
    "placement": (Text(choices=PLACEMENTS), True),
    "start_pressure": (Number(10, 150, unit="mmHg"), True),
    "start_tolerance": (Number(1, 10, unit="mmHg"), False),
    "target": (TARGET, True),
    **{name: (spec, True) for name, (spec, _) in DOSE.items()},
    "contract_timeout_s": (Number(3, 60, unit="s"), False),
    "setup": (SENTENCES, True),
    "instructions": (SENTENCES, True),
    "phrases": (PHRASES, False),
    "sides": (ListOf(Text(choices=SIDES), min_items=2), False),
    "side_change": (Text(choices=("every", "half")), False),
    "enabled": (Boolean(), False),
}, defaults={"start_tolerance": 3.0, "contract_timeout_s": 10.0, "phrases": {}, "enabled": True,
             "sides": [], "side_change": "every"})

MOVE_COMMON = {
    "id": (Text(), True),
    "title": (Text(), True),
    "phase": (Number(1, 3, integer=True), True),
    "sets": (Number(1, 10, integer=True), False),
    "rest_s": (Number(0, 300, unit="s"), True),
    "metronome": (Boolean(), False),
    "setup": (SENTENCES, True),
    "instructions": (SENTENCES, True),
    "phrases": (PHRASES, False),
    "enabled": (Boolean(), False),
}
MOVE_DEFAULTS = {"sets": 1, "phrases": {}, "enabled": True}

# without the PBU, coached by count and tempo: "15-20 repetitions at a calm tempo (4-5 s)"
TEMPO_EXERCISE = Record({
    "kind": (Text(choices=("tempo",)), True),
    **MOVE_COMMON,
    "repetitions": (Number(1, 30, integer=True), True),   # counted aloud: n.1 .. n.30
    "seconds_per_rep": (Number(1, 10, unit="s"), True),
}, defaults={**MOVE_DEFAULTS, "metronome": True})

# without the PBU, coached by time: balancing, the trampoline, holding a bridge
TIMED_EXERCISE = Record({
    "kind": (Text(choices=("timed",)), True),
    **MOVE_COMMON,
    "duration_s": (Number(5, 600, unit="s"), True),
}, defaults={**MOVE_DEFAULTS, "metronome": False})

ANY_EXERCISE = Tagged("kind", {"pbu": EXERCISE, "tempo": TEMPO_EXERCISE, "timed": TIMED_EXERCISE},
                      default="pbu")

# A limb exercise's sides are a dose too: one side only (a painful hip), or the other order.
SIDE_DOSE = {
    "sides": (ListOf(Text(choices=SIDES), min_items=1), False),
    "side_change": (Text(choices=("every", "half")), False),
}
PROGRAMME_ITEM = Record({"exercise": (Text(), True), **DOSE, **SIDE_DOSE})

PROTOCOL_FILE = Record({
    "title": (Text(), False),
    "phrases": (PHRASES, False),
    "exercises": (ListOf(ANY_EXERCISE, min_items=1), False),
    "programme": (ListOf(PROGRAMME_ITEM, min_items=1), False),
})


@dataclass
class ProtocolFile:
    path: Path
    title: str = ""
    phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exercises: dict[str, Exercise] = field(default_factory=dict)
    programme: list[dict] | None = None
    programme_lines: list[int] = field(default_factory=list)  # line of each item's `exercise:`

    def programme_problems(self, library: Mapping[str, Exercise]) -> list[str]:
        """`FILE:LINE: programme[i]...` for every programme item that cannot be coached: an
        exercise no loaded file defines, or sides given to an exercise that has none."""
        problems = self.unknown_exercises(set(library))
        known = {**library, **self.exercises}
        for index, (item, line) in enumerate(zip(self.programme or [], self.programme_lines)):
            exercise = known.get(item["exercise"])
            problem = _side_dose_problem(exercise, item) if exercise is not None else None
            if problem:
                problems.append(f"{self.path}:{line}: programme[{index}].sides: {problem}")
        return problems

    def unknown_exercises(self, known: set[str]) -> list[str]:
        """`FILE:LINE: programme[i].exercise: ...` for every id that no loaded file defines."""
        problems = []
        for index, (item, line) in enumerate(zip(self.programme or [], self.programme_lines)):
            exercise = item["exercise"]
            if exercise not in known and exercise not in self.exercises:
                close = difflib.get_close_matches(exercise, sorted(known | set(self.exercises)), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.append(f"{self.path}:{line}: programme[{index}].exercise: unknown exercise "
                                f"'{exercise}'{hint} (one of the ids in protocols/*.yaml)")
        return problems


def flat_phrases(checked: Mapping[str, list | dict]) -> dict[str, tuple[str, ...]]:
    """A checked `phrases:` section as the core keeps it: a key's wordings, or each position's
    under `key@position` (coach.core.protocol.variant_key)."""
    flat: dict[str, tuple[str, ...]] = {}
    for key, value in checked.items():
        if isinstance(value, dict):
            flat.update({variant_key(key, variant): tuple(texts) for variant, texts in value.items()})
        else:
            flat[key] = tuple(value)
    return flat


def bundled_dir() -> Path:
    """The protocols/ folder shipped with the code (override with RUGCOACH_PROTOCOLS)."""
    env = os.environ.get("RUGCOACH_PROTOCOLS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "protocols"


def load_file(path: Path) -> ProtocolFile:
    """Parse and validate one file; raises ProtocolError listing every problem in it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"protocol file '{path}' not found", exit_code=2) from None
    except OSError as exc:
        raise UserError(f"cannot read protocol file '{path}': {exc.strerror}", exit_code=2) from None
    return load_text(decode_text(data, str(path)), path)


def load_text(text: str, path: Path) -> ProtocolFile:
    """Parse and validate a protocol document (a file's text, or a patient's programme sent by
    the console, named `path` in its problems): the very checks of `rugcoach check`."""
    name = str(path)
    root = load_nodes(text, name)
    problems = Problems(name)
    if root is None:
        raise ProtocolError([f"{name}:1: the file is empty (expected 'phrases:', 'exercises:' or 'programme:')"])
    data = PROTOCOL_FILE.check(root, "", problems) or {}   # None only with problems
    if problems.items:
        raise ProtocolError(problems.items)
    result = ProtocolFile(path=path, title=data.get("title") or "")
    result.phrases = flat_phrases(data.get("phrases") or {})
    exercise_nodes = _child(root, "exercises")
    for index, raw in enumerate(data.get("exercises") or []):
        if raw["id"] in result.exercises:
            problems.add(exercise_nodes.value[index] if exercise_nodes else None, f"exercises[{index}].id",
                         f"'{raw['id']}' is defined twice (give each exercise its own id)")
            continue
        result.exercises[raw["id"]] = _exercise(raw)
    result.programme = data.get("programme")
    programme_node = _child(root, "programme")
    if programme_node is not None:
        result.programme_lines = [(_child(item, "exercise") or item).start_mark.line + 1
                                  for item in programme_node.value]
    if problems.items:
        raise ProtocolError(problems.items)
    return result


def _side_dose_problem(exercise, item: dict) -> str | None:
    """Why a programme item's sides cannot be, or None: only an exercise that moves a limb has
    sides, each side once."""
    if item.get("sides") is None and item.get("side_change") is None:
        return None
    if not getattr(exercise, "sides", ()):
        return f"exercise '{exercise.id}' moves no limb: it has no sides (leave out sides and side_change)"
    sides = item.get("sides") or list(exercise.sides)
    if len(set(sides)) != len(sides):
        return "name each side once"
    if item.get("side_change") == "half" and len(sides) < 2:
        return "side_change 'half' needs both sides"
    return None


def _child(mapping_node, key):
    for key_node, value_node in mapping_node.value:
        if key_node.value == key:
            return value_node
    return None


def _exercise(raw: dict) -> Exercise:
    kind = raw.get("kind", "pbu")
    if kind != "pbu":
        return Exercise(
            id=raw["id"], title=raw["title"], phase=raw["phase"], position="free", placement="none",
            start_pressure=0.0, target=Target("steady", 0.0, 1.0), hold_s=0.0,
            repetitions=int(raw.get("repetitions", 1)), rest_s=float(raw["rest_s"]),
            setup=tuple(raw["setup"]), instructions=tuple(raw["instructions"]),
            phrases=flat_phrases(raw["phrases"]), kind=kind,
            seconds_per_rep=float(raw.get("seconds_per_rep", 0.0)),
            duration_s=float(raw.get("duration_s", 0.0)), sets=int(raw["sets"]),
            metronome=bool(raw["metronome"]))
    target = Target(kind=raw["target"]["kind"], change=float(raw["target"]["change"]),
                    tolerance=float(raw["target"]["tolerance"]))
    if target.kind == "steady":
        target = Target("steady", 0.0, target.tolerance)
    return Exercise(
        id=raw["id"], title=raw["title"], phase=raw["phase"], position=raw["position"],
        placement=raw["placement"], start_pressure=float(raw["start_pressure"]), target=target,
        hold_s=float(raw["hold_s"]), repetitions=int(raw["repetitions"]), rest_s=float(raw["rest_s"]),
        setup=tuple(raw["setup"]), instructions=tuple(raw["instructions"]),
        contract_timeout_s=float(raw["contract_timeout_s"]),
        start_tolerance=float(raw["start_tolerance"]),
        phrases=flat_phrases(raw["phrases"]),
        sides=tuple(raw["sides"]), side_change=raw["side_change"],
    )


class Library:
    """All bundled protocol files, with the shared phrase book; resolves what a session coaches."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or bundled_dir()
        if not self.directory.is_dir():
            raise UserError(f"protocol folder '{self.directory}' not found; set RUGCOACH_PROTOCOLS "
                            "to the folder with the .yaml protocols", exit_code=2)
        self.files: dict[str, ProtocolFile] = {}
        problems: list[str] = []
        for path in sorted(self.directory.glob("*.yaml")):
            try:
                self.files[path.stem] = load_file(path)
            except ProtocolError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ProtocolError(problems)
        self.phrases: dict[str, tuple[str, ...]] = {}
        self.exercises: dict[str, Exercise] = {}
        for loaded in self.files.values():
            self.phrases = merge_phrases(self.phrases, loaded.phrases)
            self.exercises.update(loaded.exercises)

    def names(self) -> list[str]:
        """The programmes: the bundled files with exercises (the phrase book alone is none)."""
        return sorted(name for name, loaded in self.files.items() if loaded.exercises or loaded.programme)

    def exercise(self, exercise_id: str) -> Exercise:
        if exercise_id not in self.exercises:
            close = difflib.get_close_matches(exercise_id, list(self.exercises), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise UserError(f"unknown exercise '{exercise_id}'; {hint}known exercises: "
                            f"{', '.join(sorted(self.exercises))}", exit_code=2)
        return self.exercises[exercise_id]

    def session(self, protocol: str | ProtocolFile | None = None, exercise: str | None = None) -> Session:
        """The session for `--protocol` (a file or a bundled name) and/or `--exercise` (an id)."""
        book = PhraseBook(dict(self.phrases))
        if protocol is None:
            if exercise is None:
                raise UserError("say what to coach: --exercise ID (e.g. buiklig-a) or --protocol "
                                f"NAME_OR_FILE (bundled: {', '.join(self.names())})", exit_code=2)
            return Session((self.exercise(exercise),), book)
        loaded = self._protocol(protocol)
        book = book.merged(loaded.phrases)
        known = {**self.exercises, **loaded.exercises}
        if loaded.programme is not None:
            problems = loaded.programme_problems(self.exercises)
            if problems:
                raise ProtocolError(problems)
            chosen = []
            for item in loaded.programme:
                dose = {k: item.get(k) for k in (*DOSE, *SIDE_DOSE)}
                if dose["sides"] is not None:
                    dose["sides"] = tuple(dose["sides"])
                chosen.append(known[item["exercise"]].with_dose(**dose))
        else:
            chosen = list(loaded.exercises.values())
        if exercise is not None:
            chosen = [e for e in chosen if e.id == exercise]
            if not chosen:
                raise UserError(f"exercise '{exercise}' is not in protocol '{protocol}'", exit_code=2)
        return Session(tuple(chosen), book)

    def _protocol(self, name_or_path: str | ProtocolFile) -> ProtocolFile:
        if isinstance(name_or_path, ProtocolFile):   # already loaded (a patient's own programme)
            return name_or_path
        if name_or_path in self.files:
            return self.files[name_or_path]
        path = Path(name_or_path)
        if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
            return load_file(path)
        raise UserError(f"protocol '{name_or_path}' not found: give a .yaml file or one of the "
                        f"bundled names ({', '.join(self.names())})", exit_code=2)
