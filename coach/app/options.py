"""What a caller asks of a session: plain values, built by the command line or by any other
caller (the console, through the daemon), never an argparse namespace."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOptions:
    """`rugcoach run` and `rugcoach demo`; None means: what the config says, else the default."""

    config: str | None = None          # the daemon's config file
    protocol: str | None = None        # a bundled name or a file
    exercise: str | None = None        # just this exercise
    patient: str | None = None         # whose records the sessions go to (a pseudonym)
    port: str | None = None            # the sensor's serial device or URL
    audio: str | None = None           # default | DEVICE | wav:PATH | none
    events: str | None = None          # JSON lines to PATH, or - for stdout
    trace: str | None = None           # the session's t,mmhg,cue
    seed: int | None = None            # the simulated patient's
    rate: float = 50.0                 # the simulated sensor's rate (Hz)
    once: bool = False                 # with a sensor: one session, then exit
    clock_events: float | None = None  # a `clock` event every S seconds (accelerated tests)
    socket: str | None = None          # the control socket (default: coach.config.paths.control_socket)
