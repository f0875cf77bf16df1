"""The therapists' console: its own process (`rugcoach console`), a client of the daemon's control
socket as Moonraker is of Klipper's klippy. It never touches the sensor or the speaker, and a
console that dies leaves a session in progress alone.

- accounts.py: personal accounts (scrypt), the access log (NEN 7513); the console owns these tables
- login.py: login sessions (idle timeout, absolute lifetime, CSRF token) and the login back-off
- setup_code.py: the one-time code that claims a new box
- certificate.py: the box's own HTTPS certificate and its fingerprint
- daemon_link.py: the typed async client of the control socket, with reconnects and fan-out
- web.py: the HTTPS server (aiohttp): routes, security headers, CSRF, the live view
"""
