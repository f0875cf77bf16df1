"""The therapist's own voice, recorded in the console: which sentences (every programme's, in
the order a session says them), and a take kept in the voice pack once it is processed.

Both heavy jobs run in processes of their own, so the console stays small (its goal is 60 MB;
numpy alone is 10 MB, FFmpeg 30 MB):
- the order of the sentences (`python -m coach.app.voice_order`: simulated sessions), kept
  until a programme changes;
- a take, processed as `rugcoach voice import` processes a file (coach.adapters.recording:
  decoded, resampled, trimmed, loudness-normalised, or refused with the reason in Dutch) and
  added to the pack by that process. A decoder fed a file from the network runs apart from the
  console too.
The daemon reads the pack again before its next session (VoicePack.refresh).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from coach.adapters.voice_index import DEFAULT_PACK, PackIndex

PROCESS_TIMEOUT_S = 120.0   # a minute's take, or fase1's simulation, on a Raspberry Pi


class TakeRefused(Exception):
    """A take not kept; the message is for the therapist (Dutch)."""


async def _run(args: list[str], stdin: bytes | None = None) -> bytes:
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        stdout, _stderr = await asyncio.wait_for(process.communicate(stdin), PROCESS_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return stdout


class VoiceTakes:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self._order: dict[str, list[tuple[str | None, str]]] = {}
        self._ordering = asyncio.Lock()       # two pages at once wait for one simulation
        self.processing = asyncio.Semaphore(1)   # one take at a time: a Pi has four small cores

    def pack(self, name: str | None) -> PackIndex:
        return PackIndex.named(self.state_dir, name or DEFAULT_PACK)

    async def sentences(self, own: list[tuple[str, str]]) -> list[tuple[str | None, str]]:
        """(key, sentence) of every programme in use, in session order; `own` the patients'
        programmes as (pseudonym, protocol text)."""
        request = json.dumps(sorted(own), ensure_ascii=False)
        async with self._ordering:
            cached = self._order.get(request)
            if cached is None:
                stdout = await _run(["-m", "coach.app.voice_order"], request.encode())
                cached = [(key, text) for key, text in json.loads(stdout)]
                self._order = {request: cached}   # only the latest: programmes change, memory stays small
            return cached

    def overview(self, pack: PackIndex, lines: list[tuple[str | None, str]]) -> dict:
        said = {text for _key, text in lines}
        items = [{"key": key, "text": text, "recorded": pack.find(key, text) is not None} for key, text in lines]
        return {"pack": pack.name, "sentences": items, "recorded": sum(i["recorded"] for i in items),
                "total": len(items),
                "outdated": sorted({r.text for r in pack.recordings() if r.text not in said})}

    async def keep(self, pack: PackIndex, key: str | None, text: str, upload: Path) -> dict:
        """Process a take and add it to the pack; TakeRefused with the reason otherwise."""
        async with self.processing:
            try:
                stdout = await _run(["-m", "coach.adapters.recording", str(upload), str(upload.with_name("take.wav")),
                                     str(pack.folder), key or "", text])
            except TimeoutError:
                raise TakeRefused("Het verwerken duurde te lang. Neem een kortere opname op.") from None
        try:
            result = json.loads(stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise TakeRefused("Deze opname kon niet verwerkt worden. Neem hem opnieuw op.") from None
        if "refused" in result:
            raise TakeRefused(f"Niet bewaard: {result['detail']}.")
        return {"seconds": result["seconds"], "lufs": result["lufs"]}
