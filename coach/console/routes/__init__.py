"""The console's routes, one module per concern, each a list of declared routes
(coach/console/policy.py): who may use it, whether it asks the password again, and what it
writes to the access log."""

from __future__ import annotations

from coach.console.policy import Route
from coach.console.routes import accounts, auth, backup, box, clinic, live, patients, records, settings, two_step, voice


def all_routes() -> list[Route]:
    return [route for concern in (auth, two_step, box, patients, records, accounts, backup, voice, live,
                                  settings, clinic)
            for route in concern.ROUTES]
