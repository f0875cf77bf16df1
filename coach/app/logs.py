"""Logging for a terminal or for journald: levels, and no timestamps (journald adds its own).

Under systemd, stdout and stderr go to the journal and $JOURNAL_STREAM says so; each line then
starts with its syslog priority (`<3>` error ... `<7>` debug), which journald reads as the level,
so `journalctl -p warning -u rugcoach` works. On a terminal: `LEVEL name: message`.
"""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # one journal entry per line: a multi-line message keeps its level on every line
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def setup(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("transitions").setLevel(logging.WARNING)  # it logs every callback at INFO
