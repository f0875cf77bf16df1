"""The console's HTTPS server (aiohttp): the routes of coach/console/routes/, each with its
declared policy, enforced by one middleware (coach/console/policy.py), and the security headers
on every answer: a Content-Security-Policy without inline script or outside loads, no framing,
no sniffing, no referrer, HSTS.

The pages are static HTML and JavaScript that fill themselves from the API with textContent, so
nothing a user typed is ever parsed as HTML.
"""

from __future__ import annotations

import socket

from aiohttp import web
from yarl import URL

from coach.console.context import CONSOLE, MAX_BODY, STATIC, TEMP_PREFIX, Console
from coach.console.policy import add_routes, enforce, public_paths
from coach.console.routes import all_routes
from coach.console.routes.records import REPORT

__all__ = ["HTTPS_PORT", "PUBLIC", "TEMP_PREFIX", "Console", "make_app", "redirect_app"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# The report is the very page `rugcoach report` writes, with its styles inline: still no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
              "frame-ancestors 'none'")

HTTPS_PORT = web.AppKey("https_port", int)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, as it is sent (on_response_prepare: also the streamed downloads, the
    WebSocket's handshake and the errors aiohttp makes itself)."""
    # the report keeps its own inline styles (it is the page `rugcoach report` writes); still no script
    response.headers["Content-Security-Policy"] = REPORT_CSP if response.get(REPORT) else CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Strict-Transport-Security"] = "max-age=31536000"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), geolocation=(), microphone=(self)"
    if request.path.startswith("/api/") or request.path in ("/", "/login", "/setup"):
        response.headers["Cache-Control"] = "no-store"


def make_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[enforce], client_max_size=MAX_BODY)
    app.on_response_prepare.append(security_headers)
    app[CONSOLE] = console
    add_routes(app, all_routes())
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app


def _public() -> set[str]:
    app = web.Application()
    add_routes(app, all_routes())
    return public_paths(app)


# The paths anyone may open without a login (the login and setup pages, and what they need).
PUBLIC = _public()


def own_host(request: web.Request) -> str:
    """The box's own name or address for a redirect: the Host the browser used when it names
    this box (its host name, NAME.local, or the address the request came in on), else that
    address. Never a name a request makes up: a redirect must not send anyone elsewhere."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    local = sockname[0] if sockname else "127.0.0.1"
    if local.startswith("::ffff:"):
        local = local[7:]   # an IPv4 address on a dual-stack socket
    name = socket.gethostname().lower()
    try:
        asked = (URL(f"http://{request.host}").host or "").lower()
    except ValueError:
        asked = ""
    if asked in (name, f"{name}.local", local):
        local = asked
    return f"[{local}]" if ":" in local else local


def redirect_app() -> web.Application:
    """Plain HTTP only sends the browser to HTTPS, on the box itself."""
    async def to_https(request: web.Request) -> web.Response:
        port = request.app[HTTPS_PORT]
        raise web.HTTPMovedPermanently(f"https://{own_host(request)}{'' if port == 443 else f':{port}'}"
                                       f"{request.path_qs}")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", to_https)
    return app
