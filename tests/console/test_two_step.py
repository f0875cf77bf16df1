"""Two-step login (TOTP): the codes themselves against RFC 6238's own test values, then, against
the real HTTPS server, an account that turns it on, logs in with it, and the clinic's rule that
makes it compulsory."""

from __future__ import annotations

import base64

import pytest

from coach.console import login as login_rules
from coach.console import totp
from coach.console.login import address_group
from tests.console.conftest import ADMIN

# RFC 6238, appendix B: the SHA-1 secret and the 8-digit codes at these times; a 6-digit code
# is the last six digits of the same number.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_CODES = {59: "94287082", 1111111109: "07081804", 1111111111: "14050471", 1234567890: "89005924",
             2000000000: "69279037", 20000000000: "65353130"}


@pytest.mark.parametrize("unix_time,expected", sorted(RFC_CODES.items()))
def test_codes_are_rfc_6238s(unix_time, expected):
    assert totp.code_at(RFC_SECRET, totp.step_of(unix_time)) == expected[-totp.DIGITS:]


def test_a_code_is_right_one_step_either_side_and_never_twice():
    secret = totp.new_secret()
    now = 1_700_000_015.0
    step = totp.step_of(now)
    for late in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, step + late), now, None) == step + late
    assert totp.matching_step(secret, totp.code_at(secret, step + 2), now, None) is None
    assert totp.matching_step(secret, totp.code_at(secret, step), now, last_used=step) is None
    assert totp.matching_step(secret, "12345", now, None) is None
    assert totp.matching_step(secret, "abcdef", now, None) is None


def test_the_back_off_counts_each_address_and_never_a_whole_lan():
    # every PC of a clinic's IPv6 LAN is in one /64: counting per /64 would let one host lock out all
    assert address_group("2001:db8:1:2:aaaa::1") != address_group("2001:db8:1:2:bbbb::7")
    assert address_group("::ffff:192.168.1.5") == address_group("192.168.1.5") == "192.168.1.5"
    assert address_group("fe80::1%eth0") == "fe80::1"


def enrol(client, clock, password: str) -> str:
    """Turn two-step login on for the client's account, as the page does; the secret."""
    begun = client.post("/api/me/totp/begin", {"my_password": password})
    assert begun.status == 200, begun.body
    secret = begun.json["secret"]
    assert begun.json["qr"].startswith("data:image/svg+xml")
    assert begun.json["uri"].startswith("otpauth://totp/") and f"secret={secret}" in begun.json["uri"]
    wrong = f"{(int(totp.code_at(secret, totp.step_of(clock()))) + 1) % 10 ** 6:06d}"
    refused = client.post("/api/me/totp/confirm", {"code": wrong})
    assert refused.status == 400 and refused.json["field"] == "code"
    assert client.post("/api/me/totp/confirm", {"code": now_code(secret, clock)}).status == 200
    return secret


def now_code(secret: str, clock) -> str:
    return totp.code_at(secret, totp.step_of(clock()))


def test_an_account_with_two_step_login_needs_its_code_and_each_code_works_once(claimed, clock):
    server, admin = claimed
    assert admin.post("/api/me/totp/begin", {"my_password": "fout-wachtwoord"}).status == 403
    secret = enrol(admin, clock, ADMIN[1])
    assert admin.get("/api/me").json["totp"] is True
    clock.advance(totp.STEP_S)   # the code that confirmed the app is spent

    asked = server.client().login(*ADMIN)
    assert asked.status == 401 and asked.json["code"] == "totp" and asked.json["field"] == "code"
    wrong = f"{(int(now_code(secret, clock)) + 1) % 10 ** 6:06d}"
    refused = server.client().login(*ADMIN, code=wrong)
    assert refused.status == 403 and refused.json["field"] == "code"
    code = now_code(secret, clock)
    assert server.client().login(*ADMIN, code=code).status == 200
    replayed = server.client().login(*ADMIN, code=code)   # seen over a shoulder, tried at once
    assert replayed.status == 403 and replayed.json["field"] == "code"
    clock.advance(totp.STEP_S)
    assert server.client().login(*ADMIN, code=now_code(secret, clock)).status == 200

    outcomes = [(e["action"], e["outcome"]) for e in admin.get("/api/access-log").json["entries"]]
    assert ("totp_on", "ok") in outcomes
    assert ("login", "password right, code asked") in outcomes
    assert ("login", "wrong one-time code") in outcomes


def test_wrong_codes_back_off_even_between_right_passwords(claimed, clock):
    server, admin = claimed
    secret = enrol(admin, clock, ADMIN[1])
    clock.advance(totp.STEP_S)
    thief = server.client(source="127.0.0.3")
    for n in range(login_rules.FREE_FAILURES):
        wrong = f"{(int(now_code(secret, clock)) + 1 + n) % 10 ** 6:06d}"
        assert thief.login(*ADMIN, code=wrong).status == 403
    assert thief.login(*ADMIN, code=now_code(secret, clock)).status == 429
    clock.advance(login_rules.FIRST_WAIT_S + totp.STEP_S)
    assert server.client().login(*ADMIN, code=now_code(secret, clock)).status == 200


def test_a_clinic_makes_two_step_login_compulsory(claimed, clock):
    server, admin = claimed
    assert admin.post("/api/accounts", {"name": "bert", "password": "bert-zijn-wachtwoord", "role": "therapist",
                                        "my_password": ADMIN[1]}).status == 200
    # the rule only once its maker has it: it must not lock the admin out
    first = admin.post("/api/settings/totp", {"required": True, "my_password": ADMIN[1]})
    assert first.status == 409 and first.json["field"] == "required"
    enrol(admin, clock, ADMIN[1])
    assert admin.post("/api/settings/totp", {"required": True, "my_password": "fout-wachtwoord"}).status == 403
    assert admin.post("/api/settings/totp", {"required": True, "my_password": ADMIN[1]}).status == 200

    bert = server.client()
    assert bert.login("bert", "bert-zijn-wachtwoord").status == 200   # no code yet: he may only set it up
    me = bert.get("/api/me").json
    assert me["totp_required"] is True and me["totp"] is False
    for path in ("/api/patients", "/api/status", "/api/exercises"):
        refused = bert.get(path)
        assert refused.status == 403 and refused.json["code"] == "totp_required", path
    assert bert.post("/api/next", {"patient": "P-1"}).json["code"] == "totp_required"
    enrol(bert, clock, "bert-zijn-wachtwoord")
    assert bert.get("/api/patients").status == 200
    assert bert.post("/api/me/totp/off", {"my_password": "bert-zijn-wachtwoord"}).status == 409

    # bert's phone is lost: an admin clears his second factor, his sessions end
    listed = {a["name"]: a["totp"] for a in admin.get("/api/accounts").json["accounts"]}
    assert listed == {"anna": True, "bert": True}
    assert bert.post("/api/accounts/totp-reset", {"name": "anna", "my_password": "bert-zijn-wachtwoord"}).status == 403
    assert admin.post("/api/accounts/totp-reset", {"name": "bert", "my_password": ADMIN[1]}).status == 200
    assert bert.get("/api/patients").status == 401
    again = server.client()
    assert again.login("bert", "bert-zijn-wachtwoord").status == 200   # no code asked: the old app is void
    assert again.get("/api/patients").json["code"] == "totp_required"  # and he sets up the new phone first
    assert again.get("/api/me").json["totp"] is False

    # made optional again: an account may turn it off, after its password
    assert admin.post("/api/settings/totp", {"required": False, "my_password": ADMIN[1]}).status == 200
    assert admin.post("/api/me/totp/off", {"my_password": ADMIN[1]}).status == 200
    clock.advance(totp.STEP_S)
    assert server.client().login(*ADMIN).status == 200
    actions = {e["action"] for e in admin.get("/api/access-log").json["entries"]}
    assert {"totp_on", "totp_rule", "totp_reset", "totp_off"} <= actions
