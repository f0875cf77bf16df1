"""The console on a full card: a request that cannot be kept (nor put in the access log) is
refused in Dutch, with nothing half done and no traceback; once there is room, it works again."""

from __future__ import annotations

from tests.console.conftest import ADMIN, ConsoleUnderTest
from tests.helpers.full_disk import fill, small_filesystem


def test_a_full_card_is_said_in_dutch_and_nothing_is_half_kept(tmp_path, clock):
    with small_filesystem(tmp_path / "state", "8m") as state:
        server = ConsoleUnderTest(state, tmp_path / "no-daemon.sock", clock).start()
        try:
            client = server.client().before_login()
            code = server.console.setup_code.get()
            assert client.post("/api/setup", {"code": code, "name": ADMIN[0], "password": ADMIN[1]}).status == 200
            client.csrf = client.get("/api/me").json["csrf"]
            filler = fill(state)
            refused = client.post("/api/patients", {"pseudonym": "P-0042", "note": "x" * 400})
            assert refused.status == 507 and "geheugenkaart van de box is vol" in refused.json["error"], refused.body
            filler.unlink()
            assert client.get("/api/patients").json["patients"] == [], "nothing half kept"
            assert client.post("/api/patients", {"pseudonym": "P-0042"}).status == 200
            assert [p["pseudonym"] for p in client.get("/api/patients").json["patients"]] == ["P-0042"]
        finally:
            server.stop()
