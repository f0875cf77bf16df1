"""Every route of the console declares its policy (coach/console/policy.py), and the one
middleware holds every route to it, tried against the real HTTPS server: a route without a
declaration fails here; a therapist is refused every admin route; every route that asks the
password again refuses a wrong one before it does anything; every route that touches a patient
or an account writes its access-log line."""

from __future__ import annotations

from aiohttp import web

from coach.console.policy import Access, NotLogged, declared
from coach.console.web import make_app
from tests.console.conftest import ADMIN

THERAPIST = ("bert", "bert-zijn-wachtwoord")


def served(app: web.Application) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if "prefix" in info or route.method == "HEAD":   # the static files: public, no data
            continue
        found.append((route.method, info.get("path") or info.get("formatter")))
    return found


def test_every_route_is_declared_with_its_access_log_and_role(claimed):
    server, _admin = claimed
    app = make_app(server.console)
    table = declared(app)
    undeclared = [route for route in served(app) if route not in table]
    assert undeclared == [], "every route declares who may use it and what it logs"
    for (method, path), route in table.items():
        assert isinstance(route.access, Access) and (isinstance(route.audit, str) or
                                                     isinstance(route.audit, NotLogged) and route.audit.why)
        if "{pseudonym}" in path:
            assert isinstance(route.audit, str), f"{method} {path} touches a patient: it is logged"
        if method == "POST" and route.access is not Access.PUBLIC and isinstance(route.audit, NotLogged):
            assert path == "/api/me/totp/begin", f"{path} changes something: it is logged"
    admin_only = {path for (_m, path), r in table.items() if r.access is Access.ADMIN}
    assert {"/api/accounts", "/api/access-log", "/api/backup", "/api/restore",
            "/api/patients/{pseudonym}/forget", "/api/settings/totp", "/api/accounts/totp-reset",
            "/api/settings"} <= admin_only
    assert {p for (_m, p), r in table.items() if r.access is Access.PUBLIC} == {
        "/login", "/setup", "/favicon.ico", "/api/csrf", "/api/setup/state", "/api/setup/announce", "/api/setup",
        "/api/login"}


def test_a_therapist_is_refused_every_admin_route_and_a_wrong_password_every_password_route(claimed, clock):
    server, admin = claimed
    made = admin.post("/api/accounts", {"name": THERAPIST[0], "password": THERAPIST[1], "role": "therapist",
                                        "my_password": ADMIN[1]})
    assert made.status == 200, made.body
    assert admin.post("/api/patients", {"pseudonym": "P-1"}).status == 200
    therapist = server.client()
    assert therapist.login(*THERAPIST).status == 200
    table = declared(make_app(server.console))
    for (method, path), route in sorted(table.items(), key=lambda item: item[0][1]):
        concrete = path.replace("{pseudonym}", "P-1").replace("{number}", "1")
        if route.access is Access.ADMIN:
            reply = therapist.request(method, concrete, {"my_password": THERAPIST[1]} if method == "POST" else None)
            assert reply.status == 403 and reply.json["code"] == "role", (method, path, reply.status)
        if route.password:
            asker = admin if route.access is Access.ADMIN else therapist
            if path == "/api/restore":
                reply = asker.post_form(path, [("my_password", b"fout-wachtwoord", None), ("file", b"x", "b.db")])
            else:
                reply = asker.post(concrete, {"my_password": "fout-wachtwoord", "confirm": "P-1", "name": "x",
                                              "password": "nieuw-wachtwoord-1", "role": "therapist"})
            assert reply.status == 403 and reply.json["field"] == "my_password", (path, reply.status, reply.body)
            # the back-off counts every wrong password: its wait passes before the next one
            name = ADMIN[0] if asker is admin else THERAPIST[0]
            clock.advance(server.console.throttle.wait_s(name, "127.0.0.1") + 0.1)
    log = server.console.accounts.access_log()
    refused = {(e["action"], e["outcome"]) for e in log if e["account"] == THERAPIST[0]}
    assert ("read_access_log", "refused: role") in refused and ("forget", "refused: role") in refused
    assert any(action == "add_account" and outcome.startswith("refused: wrong") for action, outcome in
               {(e["action"], e["outcome"]) for e in log if e["account"] == ADMIN[0]})
    assert server.console.patients.get("P-1") is not None, "nothing was done"
