"""Login sessions and the login back-off: plain Python on an injected clock, so the tests can
let an hour pass without waiting for it.

- A session ends on the server after IDLE_S without a request, and after LIFETIME_S at most;
  logout ends it at once. A stolen cookie is worth nothing after that: only the token's hash is
  kept, and a token not in the table is refused.
- Failed logins back off per account and per address, so neither guessing one account from many
  addresses nor many accounts from one address goes fast. The back-off wears off with time: the
  clinic's own staff are never banned for good (Home Assistant's mistake).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

IDLE_S = 30 * 60             # a console left open in the treatment room logs itself out
LIFETIME_S = 12 * 3600       # a working day at most
FREE_FAILURES = 5            # wrong passwords before the back-off starts
FIRST_WAIT_S = 30.0          # then 30 s, doubling with each failure ...
LONGEST_WAIT_S = 15 * 60.0   # ... up to 15 minutes
FORGET_AFTER_S = 3600.0      # an hour without a failure clears the count


@dataclass
class LoginSession:
    account: str
    role: str
    csrf: str
    created: float
    seen: float
    totp: bool = False                # the account logs in with a one-time code as well
    pending_totp: str | None = None   # a secret shown for enrolment, until a code confirms it


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginSessions:
    clock: Callable[[], float]
    idle_s: float = IDLE_S
    lifetime_s: float = LIFETIME_S
    _sessions: dict[str, LoginSession] = field(default_factory=dict)

    def open(self, account: str, role: str, totp: bool = False) -> tuple[str, LoginSession]:
        """A new session: the token for the cookie, and the session (with its CSRF token)."""
        self._sweep()
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = LoginSession(account, role, secrets.token_urlsafe(32), now, now, totp=totp)
        self._sessions[_digest(token)] = session
        return token, session

    def find(self, token: str | None) -> LoginSession | None:
        """The live session of a cookie's token, its idle time restarted; None when it ended."""
        if not token:
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle_s or now - session.created > self.lifetime_s:
            del self._sessions[key]
            return None
        session.seen = now
        return session

    def alive(self, token: str | None) -> bool:
        """Whether a cookie's session is still live, without counting this as activity (an open
        live view must not keep a console in a treatment room logged in)."""
        session = self._sessions.get(_digest(token)) if token else None
        if session is None:
            return False
        now = self.clock()
        return now - session.seen <= self.idle_s and now - session.created <= self.lifetime_s

    def close(self, token: str | None) -> None:
        if token:
            self._sessions.pop(_digest(token), None)

    def close_account(self, account: str) -> None:
        """Every session of an account (its password changed, or it was removed)."""
        for key in [k for k, s in self._sessions.items() if s.account == account]:
            del self._sessions[key]

    def close_all(self) -> None:
        self._sessions.clear()

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._sessions.items()
                    if now - s.seen > self.idle_s or now - s.created > self.lifetime_s]:
            del self._sessions[key]

    def __len__(self) -> int:
        self._sweep()
        return len(self._sessions)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


@dataclass
class _Failures:
    count: int = 0
    last: float = float("-inf")


@dataclass
class LoginThrottle:
    """How long a login must wait, per account name and per address."""

    clock: Callable[[], float]
    _failures: dict[tuple[str, str], _Failures] = field(default_factory=dict)

    def wait_s(self, name: str, address: str) -> float:
        """Seconds before a login with this name, from this address, may be tried; 0: now."""
        now = self.clock()
        return max(self._wait(("name", name.lower()), now), self._wait(("address", address_group(address)), now))

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (("name", name.lower()), ("address", address_group(address))):
            entry = self._failures.setdefault(key, _Failures())
            if now - entry.last > FORGET_AFTER_S:
                entry.count = 0
            entry.count += 1
            entry.last = now
        if len(self._failures) > 10_000:   # a flood of made-up names must not fill the memory
            for key in [k for k, f in self._failures.items() if now - f.last > FORGET_AFTER_S]:
                del self._failures[key]

    def succeeded(self, name: str) -> None:
        """A right password clears the account's count (not the address's: one right guess from
        an address that tried a hundred names says nothing about the others)."""
        self._failures.pop(("name", name.lower()), None)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        entry = self._failures.get(key)
        if entry is None or entry.count < FREE_FAILURES or now - entry.last > FORGET_AFTER_S:
            return 0.0
        wait = min(FIRST_WAIT_S * 2 ** (entry.count - FREE_FAILURES), LONGEST_WAIT_S)
        return max(0.0, entry.last + wait - now)


def address_group(address: str) -> str:
    """The unit the back-off counts per: one address (an IPv4-mapped IPv6 one as IPv4). Not an
    IPv6 /64: on a clinic's LAN every PC shares one, so one guessing host would make them all wait."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
