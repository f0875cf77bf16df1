"""Two-factor login with time-based one-time codes (TOTP, RFC 6238), as every authenticator app
on a therapist's phone makes them: HMAC-SHA1 over 30-second steps, six digits.

Plain functions of a secret and a wall-clock time (a code is bound to the real time of day, so
the tests pass the time in). A code is accepted one step early or late (a phone's clock drifts,
and typing takes time), and never twice: the caller keeps the last step used per account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

import segno

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1      # a code of the step before or after is still right
ISSUER = "RugCoach"


def new_secret() -> str:
    """A fresh secret: 160 random bits (RFC 4226's recommendation), base32 as apps expect it."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def code_at(secret: str, step: int) -> str:
    """The code of one 30-second step (RFC 4226's dynamic truncation)."""
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10 ** DIGITS).zfill(DIGITS)


def step_of(unix_time: float) -> int:
    return int(unix_time // STEP_S)


def matching_step(secret: str, given: str, unix_time: float, last_used: int | None) -> int | None:
    """The step whose code `given` is, within the drift allowed and later than `last_used` (a
    code seen once, by anyone, is spent); None when it is not a right code now."""
    given = "".join((given or "").split())
    if len(given) != DIGITS or not given.isdigit():
        return None
    now = step_of(unix_time)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        # every candidate compared, in constant time: the answer's timing tells nothing
        if hmac.compare_digest(code_at(secret, step), given) and (last_used is None or step > last_used):
            found = step
    return found


def provisioning_uri(secret: str, account: str, box: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    label = quote(f"{ISSUER} {box}:{account}", safe="")
    return f"otpauth://totp/{label}?" + urlencode({"secret": secret, "issuer": f"{ISSUER} {box}",
                                                   "algorithm": "SHA1", "digits": DIGITS, "period": STEP_S})


def qr_data_uri(uri: str) -> str:
    """The QR code of `uri` as an SVG data: address (the CSP allows data: images, nothing else)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
