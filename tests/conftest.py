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
