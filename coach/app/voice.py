"""`rugcoach voice import DIR` and `rugcoach voice status`: the therapist's recorded sentences
without the console. Files from any recorder, named by the sentence ("Span nu aan.wav") or by the
phrase key of the phrase book ("contract.wav"; "welcome_2.wav" for the second sentence of a
phrase of several). An exercise's own wordings are named by their sentence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from coach.adapters.loudness import loudness_lufs
from coach.adapters.recording import RecordingRefused, prepare
from coach.adapters.speech import SAMPLE_RATE
from coach.adapters.voice_index import DEFAULT_PACK
from coach.adapters.voice_pack import VoicePack
from coach.config.paths import state_dir
from coach.config.protocols import Library
from coach.core.vocabulary import session_lines
from coach.core.voice import Line, sentences
from coach.errors import UserError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".webm", ".m4a"}   # the last two: FFmpeg


def _plain(text: str) -> str:
    """A sentence as a file name may spell it: no case, no punctuation, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def programme_lines(library: Library) -> dict[str, list[Line]]:
    """Every bundled programme's sentences, by programme name."""
    lines = {}
    for name in library.names():
        try:
            session = library.session(protocol=name)
        except UserError:
            continue
        if session.exercises:   # the phrase book alone is no programme
            lines[name] = session_lines(session)
    return lines


@dataclass
class ImportReport:
    taken: list[tuple[str, Line]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)   # (file, Dutch reason)


def match(stem: str, lines: list[Line], book: dict) -> tuple[list[Line], str]:
    """The lines a file is for, by its sentence, else by a phrase key of the phrase book (and the
    sentence's number); else none, and why not (Dutch, for the therapist)."""
    by_text = [line for line in lines if _plain(line.text) == _plain(stem)]
    if by_text:
        return by_text, ""
    key, _, number = stem.rpartition("_") if re.search(r"_\d+$", stem) else (stem, "", "")
    if key not in book:
        return [], "onbekende zin of sleutel"
    parts = sentences(book[key][0])
    if not number and len(parts) > 1:
        return [], f"'{key}' heeft {len(parts)} zinnen: noem de bestanden {key}_1 tot {key}_{len(parts)}"
    index = int(number) - 1 if number else 0
    if not 0 <= index < len(parts):
        return [], f"'{key}' heeft {len(parts)} zin(nen)"
    return [line for line in lines if line.text == parts[index]], ""


def import_folder(folder: Path, pack: VoicePack, lines: list[Line], book: dict) -> ImportReport:
    report = ImportReport()
    lines = list({(line.key, line.text): line for line in lines}.values())
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for path in files:
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            report.refused.append((path.name, "geen geluidsbestand (.wav, .flac, .ogg, .opus, .mp3, .webm of .m4a)"))
            continue
        matched, why = match(path.stem, lines, book)
        if not matched:
            report.refused.append((path.name, why or "deze zin zegt geen programma"))
            continue
        try:
            samples = prepare(path)
        except RecordingRefused as exc:
            report.refused.append((path.name, str(exc)))
            continue
        lufs = loudness_lufs(samples, SAMPLE_RATE)
        for line in matched:
            pack.add(line.key or "", line.text, samples, source=path.name, lufs=lufs)
            report.taken.append((path.name, line))
    return report


def coverage(pack: VoicePack, programmes: dict[str, list[Line]]) -> dict:
    """Per programme: recorded and missing sentences; the pack's outdated recordings (words no
    programme says any more: a wording was changed)."""
    said = {line.text for lines in programmes.values() for line in lines}
    result = {"pack": pack.name, "programmes": {}, "outdated": sorted(
        {(r.key, r.text) for r in pack.recordings() if r.text not in said})}
    for name, lines in programmes.items():
        missing = [line for line in lines if pack.find(line.key, line.text) is None]
        result["programmes"][name] = {"sentences": len(lines), "recorded": len(lines) - len(missing),
                                      "missing": [(line.key, line.text) for line in missing]}
    return result


def default_pack(config) -> VoicePack:
    return VoicePack.named(state_dir(), config.voice_pack or DEFAULT_PACK)
