"""Shared fixtures: the bundled library, a pure-core session driver, and a real PulseAudio sink."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from coach.config.protocols import Library
from coach.sim.core_run import estimated_duration, simulate  # noqa: F401  (the tests' shared driver)
from coach.sim.pulse import PulseServer

ROOT = Path(__file__).resolve().parents[1]
RUGCOACH = [sys.executable, "-m", "coach"]


@pytest.fixture(scope="session")
def library() -> Library:
    return Library()


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


@pytest.fixture(scope="session")
def pulse_sink(tmp_path_factory):
    """A private PulseAudio server with a null sink for the whole test session.

    Yields (environment for clients, sink name). Nothing is left running afterwards."""
    server = PulseServer(tmp_path_factory.mktemp("pulse")).start()
    try:
        yield server.env, server.sink
    finally:
        server.stop()


@pytest.fixture
def pulse_server(tmp_path_factory):
    """A private PulseAudio server this test may kill and start again."""
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    try:
        yield server
    finally:
        server.stop()


# `make test` runs on several workers (--dist worksteal: each worker starts with an equal,
# contiguous share of the tests, and an idle one takes half of the busiest one's queue). A
# 5-minute test that starts last makes the whole suite 5 minutes longer, and so do two long
# ones on one worker. So the long ones (measured, in seconds on 2 cores) are dealt out first, to
# the share with the least work so far, then the rest (a second or two each) in their order.
LONGEST = {
    "tests/e2e/test_soak.py": 320,
    "tests/console/test_week.py": 265,
    "tests/clinic/test_clinic_daemon.py": 70,
    "tests/clinic/test_clinic_console.py": 18,
    "tests/app/test_service.py::test_make_install": 140,
    "tests/adapters/test_records.py::test_sigkill": 75,
    "tests/console/test_console_browser.py": 70,
    "tests/adapters/test_backup.py::test_a_backup_in_the_middle": 40,
    "tests/console/test_console_process.py::test_kill_9": 40,
    "tests/core/test_accuracy.py::test_accuracy_on_held_out_seeds": 60,
    "tests/core/test_correction_latency.py::test_a_patient_who_does_it_right": 40,
    "tests/core/test_correction_latency.py": 8,
    "tests/core/test_breathing_sweep.py": 12,
    "tests/e2e/test_sensor_faults.py": 35,
    "tests/console/test_voice_browser.py": 30,
    "tests/app/test_service.py::test_the_daemons_life": 20,
    "tests/console/test_records.py": 16,
    "tests/app/test_voice.py::test_the_record_and_the_report_say_which_voice_spoke": 15,
    "tests/app/test_control.py": 14,
}
OTHER_S = 2.0


def pytest_configure(config):
    """A wrong RUGCOACH_TEST_SLOWNESS is said once, before any test (tests/patience.py)."""
    import tests.patience  # noqa: F401


def pytest_collection_modifyitems(session, config, items):
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))

    def seconds(item) -> float:
        return next((s for prefix, s in LONGEST.items() if item.nodeid.startswith(prefix)), OTHER_S)

    shares: list[list] = [[] for _ in range(workers)]
    work = [0.0] * workers
    for item in sorted(items, key=seconds, reverse=True):   # stable: the rest keep their order
        least = work.index(min(work))
        shares[least].append(item)
        work[least] += seconds(item)
    items[:] = [item for share in shares for item in share]
