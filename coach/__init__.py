"""RugCoach: a voice coach for low-back stabilisation training on a pressure biofeedback unit.

Layout (functional core, thin edges):
  coach/core/      pure coaching logic fed with timestamped samples: analysis, voice
                   scheduling, the coaching state machine. Never sleeps, never touches a device.
  coach/sim/       the simulated patient (also pure): a pressure model that reacts to the coach.
  coach/adapters/  the edges: serial sensor, speech synthesis, audio output, event and trace files.
  coach/app/       wiring: the session runner (clock, main loop) and the command line.
"""



def _version() -> str:
    """The release, and the commit `make install` installed (it writes coach/VERSION): two
    installs from two commits are two versions, as `rugcoach status` and the console show."""
    from pathlib import Path

    try:
        return (Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip() or "0.1.0")
    except OSError:
        return "0.1.0"


__version__ = _version()
