"""The one-time code that claims a new box.

The first account (an admin) can only be made with this code, and only someone at the box can
get it: the box says it aloud through its speaker (in the treatment room), and `rugcoach console
setup-code` prints it to whoever has a shell on the box. Whoever reaches the page first on the
LAN learns nothing from it, and cannot make the clinic's PC wait either:

- each address backs off on its own after a few wrong codes (the login's back-off), so no one
  host can make the box wait for everybody;
- after WRONG_PER_CODE wrong codes in all, from anywhere, the code is replaced by a new one
  (which the box says again on request), so guessing from many addresses at once gets no
  further than a few tries per code: a one in 50,000 chance per code. The price: a host with
  many addresses can make the box replace its code again and again. It cannot claim the box
  that way, and whoever stands by it asks the box for the new code (or reads it with
  `rugcoach console setup-code`).

Gone once an account exists.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

DIGITS = 6
WRONG_PER_CODE = 20


class SetupCode:
    def __init__(self, directory: Path):
        self.path = directory / "setup-code"
        self.wrong_tries = 0

    def get(self) -> str:
        """The code, made on first use (readable only by the service's user)."""
        try:
            code = self.path.read_text().strip()
            if len(code) == DIGITS and code.isdigit():
                return code
        except FileNotFoundError:
            pass
        code = "".join(secrets.choice("0123456789") for _ in range(DIGITS))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(code + "\n")
        os.replace(tmp, self.path)
        return code

    def matches(self, given: str) -> bool:
        if not self.path.exists():
            return False
        return hmac.compare_digest(self.get().encode(), "".join((given or "").split()).encode())

    def wrong(self) -> bool:
        """Count a wrong code; True when that was the last one this code takes (it is replaced)."""
        self.wrong_tries += 1
        if self.wrong_tries < WRONG_PER_CODE:
            return False
        self.wrong_tries = 0
        self.path.unlink(missing_ok=True)
        self.get()
        return True

    def used(self) -> None:
        """The box is claimed: the code never works again."""
        self.path.unlink(missing_ok=True)
