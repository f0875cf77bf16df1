"""`python -m coach.app.voice_order`: every sentence of the programmes in use, once each, in the
order a session says them, for the console's recorder.

The order comes from simulated sessions through the coach's core (a smooth session of each
distinct programme), then what a smooth session never says (corrections, high counts) in the
phrase book's order. Run as a process of its own by the console: the simulation needs numpy,
which the console's process does without (its memory goal is 60 MB).

stdin: a JSON list of [pseudonym, protocol text] (the patients' own programmes).
stdout: a JSON list of [phrase key, sentence].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from coach.config.protocols import Library, load_text
from coach.core.protocol import Session
from coach.core.vocabulary import session_lines
from coach.errors import UserError
from coach.sim.core_run import simulate


def programmes(library: Library, own: list[tuple[str, str]]) -> list[Session]:
    """The bundled programmes, then the patients' own (their doses can add numbers)."""
    found = []
    for name in library.names():
        session = library.session(protocol=name)
        if session.exercises:
            found.append(session)
    for pseudonym, text in own:
        try:
            found.append(library.session(protocol=load_text(text, Path(f"programme of {pseudonym}"))))
        except UserError:
            continue   # a programme the library no longer takes: the console shows it elsewhere
    return found


def sentence_order(sessions: list[Session]) -> list[tuple[str | None, str]]:
    ordered: dict[str, str | None] = {}
    simulated: set[tuple] = set()
    for session in sessions:
        same = tuple((e.id, e.repetitions) for e in session.exercises)
        if same in simulated:   # patients with the bundled doses: one simulation is enough
            continue
        simulated.add(same)
        _events, plays, _coach = simulate(session, seed=1, rate_hz=10.0)
        for play in plays:
            if not play.line.is_tone:
                ordered.setdefault(play.line.text, play.line.key)
    for session in sessions:
        for line in session_lines(session):
            ordered.setdefault(line.text, line.key)
    return [(key, text) for text, key in ordered.items()]


def main() -> int:
    own = [(str(p), str(t)) for p, t in json.load(sys.stdin)]
    json.dump(sentence_order(programmes(Library(), own)), sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
