"""The therapist's own voice, recorded in the console: which sentences (every programme's, in
the order a session says them), and a take kept in the voice pack once it is processed.

A take is processed as `rugcoach voice import` processes a file (coach.adapters.recording:
decoded, resampled, trimmed, loudness-normalised, or refused with the reason in Dutch), in a
process of its own: a browser's WebM is decoded by FFmpeg, which is 30 MB the console need not
keep, and a decoder fed a file from the network runs apart from the console. The daemon reads
the pack again before its next session (VoicePack.refresh).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

from coach.adapters.speech import _read_wav
from coach.adapters.voice_pack import DEFAULT_PACK, VoicePack
from coach.config.protocols import Library
from coach.core.protocol import Session
from coach.core.vocabulary import session_lines
from coach.core.voice import Line
from coach.sim.core_run import simulate

PROCESS_TIMEOUT_S = 120.0   # a minute's take on a Raspberry Pi, with FFmpeg's start
# The order of the sentences, by the programmes' sentences: simulating fase1 takes seconds, and
# the programmes change rarely (a wording, a patient's dose).
_ORDER: dict[int, list[Line]] = {}
_ORDER_LOCK = threading.Lock()


class TakeRefused(Exception):
    """A take not kept; the message is for the therapist (Dutch)."""


class VoiceTakes:
    def __init__(self, state_dir: Path, library: Library):
        self.state_dir = state_dir
        self.library = library
        self.processing = asyncio.Semaphore(1)   # one take at a time: a Pi has four small cores

    def pack(self, name: str | None) -> VoicePack:
        return VoicePack.named(self.state_dir, name or DEFAULT_PACK)

    def programmes(self, own: list[Session]) -> list[Session]:
        """The bundled programmes, then the patients' own (their doses can add numbers)."""
        bundled = []
        for name in self.library.names():
            session = self.library.session(protocol=name)
            if session.exercises:
                bundled.append(session)
        return bundled + own

    def sentences(self, programmes: list[Session]) -> list[Line]:
        """Each sentence once, in the order a session says it (a simulated session through the
        coach's core), then the ones a smooth session never says (corrections, high counts)."""
        every = [session_lines(session) for session in programmes]
        signature = hash(tuple((line.key, line.text) for lines in every for line in lines))
        with _ORDER_LOCK:   # held while computing: two pages at once wait for one simulation
            cached = _ORDER.get(signature)
            if cached is not None:
                return cached
            ordered: dict[str, Line] = {}
            simulated: set[tuple] = set()
            for session in programmes:
                same = tuple((e.id, e.repetitions) for e in session.exercises)
                if same in simulated:   # patients with the bundled doses: one simulation is enough
                    continue
                simulated.add(same)
                _events, plays, _coach = simulate(session, seed=1, rate_hz=10.0)
                for play in plays:
                    if not play.line.is_tone:
                        ordered.setdefault(play.line.text, play.line)
            for lines in every:
                for line in lines:
                    ordered.setdefault(line.text, line)
            found = list(ordered.values())
            _ORDER[signature] = found
            return found

    def overview(self, pack: VoicePack, lines: list[Line]) -> dict:
        said = {line.text for line in lines}
        items = [{"key": line.key, "text": line.text, "recorded": pack.find(line.key, line.text) is not None}
                 for line in lines]
        return {"pack": pack.name, "sentences": items, "recorded": sum(i["recorded"] for i in items),
                "total": len(items),
                "outdated": sorted({r.text for r in pack.recordings() if r.text not in said})}

    async def keep(self, pack: VoicePack, line: Line, upload: Path) -> dict:
        """Process a take and keep it in the pack; TakeRefused with the reason otherwise."""
        out = upload.with_name("take.wav")
        async with self.processing:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "coach.adapters.recording", str(upload), str(out),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                stdout, _stderr = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT_S)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
                raise TakeRefused("Het verwerken duurde te lang. Neem een kortere opname op.") from None
        try:
            result = json.loads(stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise TakeRefused("Deze opname kon niet verwerkt worden. Neem hem opnieuw op.") from None
        if "refused" in result:
            raise TakeRefused(f"Niet bewaard: {result['detail']}.")
        samples = _read_wav(out)
        if samples is None:
            raise TakeRefused("Deze opname kon niet verwerkt worden. Neem hem opnieuw op.")
        pack.add(line.key or "", line.text, samples, source="console", lufs=float(result["lufs"]))
        return {"seconds": result["seconds"], "lufs": result["lufs"]}
