"""`rugcoach console`: the HTTPS console's process. It holds no session state of the box: the
daemon does, and this process is a client of its socket, so killing it harms nothing."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from coach.adapters import systemd
from coach.adapters.store import private_files
from coach.config.paths import control_socket, state_dir
from coach.console import certificate
from coach.console.daemon_link import DaemonLink
from coach.console.data import ConsoleData, open_local
from coach.console.setup_code import SetupCode
from coach.console.web import HTTPS_PORT, TEMP_PREFIX, Console, make_app, redirect_app
from coach.errors import UserError

log = logging.getLogger("rugcoach.console")


def console_dir(state: Path | None = None) -> Path:
    """The console's own files (certificate, setup code) beside the records."""
    return (state or state_dir()) / "console"


def return_big_buffers_to_the_system() -> None:
    """Each scrypt check takes a 16 MiB buffer. glibc serves the first from mmap and gives it
    back, but then raises its mmap threshold to that size, so later ones come from the heap and
    stay: measured 40 MB of RSS before the first login, 56 MB after. A fixed threshold (which
    turns the raising off) keeps big buffers in mmap: 40 MB after any number of logins."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 128 * 1024)   # M_MMAP_THRESHOLD: glibc's default, fixed
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        pass


async def keep_clinic_copy(console: Console, every_s: float = 3.0) -> None:
    """On a box of a clinic (`console.data.clinic`, coach/clinic/console.py): the box's copy of
    the clinic's accounts and patients refreshed (off the event loop), so a store that goes away
    leaves a copy seconds old."""
    loop = asyncio.get_running_loop()
    while True:
        clinic = console.data.clinic
        if clinic is not None and not console.restoring:
            try:
                await loop.run_in_executor(None, clinic.refresh)
            except Exception as exc:   # the copy's own file (a full card): the next round tries again
                log.warning("the clinic's copy on the box could not be refreshed: %s", exc)
        await asyncio.sleep(every_s)


def open_console(state: Path | None = None, socket_path: Path | None = None,
                 open_data: Callable[[Path], ConsoleData] = open_local) -> Console:
    """`open_data`: the box's own data, or on a box of a clinic the clinic's (coach.app.clinic_cli
    chooses; coach/clinic implements it)."""
    return_big_buffers_to_the_system()
    state = state or state_dir()
    for leftover in state.glob(TEMP_PREFIX + "*"):   # an export or backup cut off by a kill
        shutil.rmtree(leftover, ignore_errors=True)
    with private_files():   # health data and password hashes: the service's user alone
        state.mkdir(parents=True, exist_ok=True)
        data = open_data(state)
    console = Console(data, DaemonLink(socket_path or control_socket()), SetupCode(console_dir(state)), state)
    console.reopen = lambda: open_data(state)   # after a restore swapped the records under the console
    if data.accounts.count() == 0:
        console.setup_code.get()   # ready for `rugcoach console setup-code` and the speaker
    return console


async def serve(console: Console, host: str | None, port: int, http_port: int | None,
                cert: Path, key: Path, ready=None, stop: asyncio.Event | None = None) -> None:
    context = certificate.server_context(cert, key)
    console.link.start()
    runner = web.AppRunner(make_app(console), access_log=None)
    await runner.setup()
    redirect_application = redirect_app()
    redirect_application[HTTPS_PORT] = port
    redirect = web.AppRunner(redirect_application, access_log=None)
    await redirect.setup()
    inherited = systemd.listening_sockets()
    if inherited:
        # Socket activation (rugcoach-console.socket): systemd binds 443 and 80, so this process
        # needs no capability at all. The one on the HTTPS port serves the console; the others
        # send the browser there.
        sites = [web.SockSite(runner, sock, ssl_context=context) if sock.getsockname()[1] == port
                 else web.SockSite(redirect, sock) for sock in inherited]
    else:
        sites = [web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)]
        if http_port:
            sites.append(web.TCPSite(redirect, host, http_port, reuse_address=True))
    try:
        for site in sites:
            await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UserError(f"the console cannot listen on {host or '*'}:{port}: {exc.strerror or exc}") from None
    log.info("console: https://%s:%d/ (daemon socket %s)", host or "*", port, console.link.path)
    if ready is not None:
        ready(runner.addresses)   # (host, port) of each socket: a test asks for port 0
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    copying = asyncio.ensure_future(keep_clinic_copy(console))
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (RuntimeError, ValueError):   # not the main thread (tests run it on their own)
            pass
    await stop.wait()
    copying.cancel()
    await console.link.close()
    await runner.cleanup()
    await redirect.cleanup()
    console.data.close()
