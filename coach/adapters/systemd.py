"""systemd's service protocol, by hand (a datagram to $NOTIFY_SOCKET; no library needed).

READY=1 once the daemon can coach, STATUS= lines for `systemctl status`, STOPPING=1, and
WATCHDOG=1 pings from the main loop: a loop that hangs stops pinging and systemd restarts it.
Outside systemd (no NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time

log = logging.getLogger(__name__)


def notify(*lines: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            # never block the main loop on systemd: a full queue drops this one message
            sock.send("\n".join(lines).encode(), socket.MSG_DONTWAIT)
    except OSError as exc:
        log.debug("cannot notify systemd: %s", exc)
        return False
    return True


class Watchdog:
    """Pings at half the interval systemd asked for (WATCHDOG_USEC), from the one main loop."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.interval = int(usec) / 2e6 if usec.isdigit() and mine else None
        self._last = 0.0

    @contextlib.contextmanager
    def kept_alive(self):
        """Around one long, bounded task of the main loop (a restore, a forget's VACUUM on a slow
        card): a thread pings meanwhile. The task is known to end; a hung main loop otherwise is
        still caught, as the thread lives only inside this block."""
        if self.interval is None:
            yield
            return
        done = threading.Event()

        def keep():
            while not done.wait(self.interval):
                notify("WATCHDOG=1")
        thread = threading.Thread(target=keep, name="watchdog-keep", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def ping(self) -> None:
        if self.interval is None:
            return
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            notify("WATCHDOG=1")


LISTEN_FDS_START = 3   # sd_listen_fds(3): the first socket systemd passes


def listening_sockets() -> list[socket.socket]:
    """The sockets systemd opened for this service (socket activation: $LISTEN_FDS, for this
    process's $LISTEN_PID), in the order its .socket unit lists them; [] outside it. They are
    taken once: the variables are cleared, so a child never thinks they are its own."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    found = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        found.append(socket.socket(fileno=fd))
    return found
