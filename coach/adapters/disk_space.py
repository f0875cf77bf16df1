"""Space for the records on the box's card: measured, said in the journal before it runs out.

A full card is a state the daemon waits out (the store and the files keep what they could not
write, coach/adapters/store.py and files.py); this says how much room is left, and warns in time:
below LOW_MB, or below LOW_SHARE of the filesystem, whichever comes first.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from coach.api.status import DiskStatus

log = logging.getLogger("rugcoach")

LOW_MB = 200        # some 40 hours of sessions at 50 Hz: weeks for a practice to make room
LOW_SHARE = 0.05
CHECK_EVERY_S = 30.0


def measure(directory: Path) -> tuple[int, int]:
    """(free, total) megabytes for an unprivileged user on the filesystem of `directory`."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return 0, 0
    mb = 1024 * 1024
    return stat.f_bavail * stat.f_frsize // mb, stat.f_blocks * stat.f_frsize // mb


def is_low(free_mb: int, total_mb: int) -> bool:
    return total_mb > 0 and (free_mb < LOW_MB or free_mb < LOW_SHARE * total_mb)


class SpaceWatch:
    """Looks every CHECK_EVERY_S (wall clock), and logs once when the space gets low and once
    when there is room again."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.low = False
        self._checked_at = float("-inf")

    def check(self) -> bool:
        """True when it looked (every CHECK_EVERY_S)."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_S:
            return False
        self._checked_at = now
        free, total = measure(self.directory)
        low = is_low(free, total)
        if low and not self.low:
            log.warning("little space left for the records: %d MB free of %d MB in %s; make room (old "
                        "exports and backups) before the card is full", free, total, self.directory)
        elif self.low and not low:
            log.info("space for the records again: %d MB free", free)
        self.low = low
        return True

    def status(self, full: bool, waiting: dict, waiting_events: int) -> DiskStatus:
        free, total = measure(self.directory)
        return DiskStatus(free, total, is_low(free, total), full, waiting.get("repetitions", 0),
                          waiting.get("samples", 0), waiting_events)


class Reserve:
    """A little space set aside in the state directory (a file of real blocks), given up the
    moment the card is full: SQLite then still opens the records (its -shm and -wal need room
    before the first read) and marks what a power cut interrupted, and a session's first rows
    still fit. Made again once there is room."""

    NAME = ".space-reserve"
    SIZE = 1024 * 1024

    def __init__(self, directory: Path):
        self.path = Path(directory) / self.NAME

    def keep(self) -> bool:
        """Set the space aside if it is not (and the card has room for it twice over)."""
        try:
            if self.path.exists() and self.path.stat().st_size >= self.SIZE:
                return True
            free, _total = measure(self.path.parent)
            if free * 1024 * 1024 < 2 * self.SIZE:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"\0" * self.SIZE)   # written, not sparse: the blocks are really taken
            finally:
                os.close(fd)
            return True
        except OSError:
            self.path.unlink(missing_ok=True)
            return False

    def give_up(self) -> bool:
        """Free the space; True if there was any to free."""
        try:
            self.path.unlink()
        except OSError:
            return False
        log.warning("the card is full: the space set aside for the records (%d MB) is used now",
                    self.SIZE // (1024 * 1024))
        return True
