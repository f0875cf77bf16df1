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
