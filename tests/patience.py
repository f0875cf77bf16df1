"""How long a test waits before it calls something hung.

The limits in the tests are hang guards, chosen for the project's own kind of machine (2 cores,
x86 or a Raspberry Pi). A much slower machine, such as an arm64 system under qemu-user (about ten
times slower: scripts/arm64-check.sh), sets RUGCOACH_TEST_SLOWNESS to that factor, and every hang
guard grows with it. Nothing a test measures as a requirement (a watchdog interval, a reply that
must come within the product's own timeout) is scaled: those are times the product promises."""

from __future__ import annotations

import os

import pytest

_ASKED = os.environ.get("RUGCOACH_TEST_SLOWNESS", "").strip()
try:
    SLOWNESS = float(_ASKED) if _ASKED else 1.0
except ValueError:
    raise pytest.UsageError(f"RUGCOACH_TEST_SLOWNESS={_ASKED!r}: give a factor, e.g. 10") from None
if not 1.0 <= SLOWNESS <= 100.0:
    raise pytest.UsageError(f"RUGCOACH_TEST_SLOWNESS={_ASKED!r}: give a factor from 1 to 100")


def patience(seconds: float) -> float:
    """A hang guard of `seconds` on the project's own machines, on this one."""
    return seconds * SLOWNESS
