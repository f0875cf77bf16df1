"""The box's own HTTPS certificate: made on the box (at install, or at the console's first start),
never shipped, so no two boxes share a key. A therapist checks its fingerprint once, from
`rugcoach console fingerprint`, against what the browser shows (docs/handleiding.md says how).
A clinic's own certificate can be configured instead (`--cert`, `--key`)."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
from pathlib import Path

from coach.errors import UserError

DAYS = 3650     # ten years: a box in a treatment room is not renewed by hand every year


def ensure(directory: Path) -> tuple[Path, Path]:
    """The certificate and key in `directory`, made now if they are not there yet."""
    cert, key = directory / "console.crt", directory / "console.key"
    if cert.exists() and key.exists():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname() or "rugcoach"
    names = f"DNS:{host},DNS:{host}.local,DNS:localhost,IP:127.0.0.1"
    old = os.umask(0o077)   # the key is the service's alone
    try:
        result = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-sha256", "-days", str(DAYS), "-subj", f"/CN={host}/O=RugCoach",
             "-addext", f"subjectAltName={names}", "-keyout", str(key) + ".new", "-out", str(cert) + ".new"],
            capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise UserError("cannot make the console's certificate: openssl is not installed "
                        "(sudo apt install openssl)") from None
    finally:
        os.umask(old)
    if result.returncode != 0:
        raise UserError(f"cannot make the console's certificate: {result.stderr.strip().splitlines()[-1:]}")
    os.replace(str(key) + ".new", key)
    os.replace(str(cert) + ".new", cert)
    return cert, key


def fingerprint(cert: Path) -> str:
    """SHA-256 of the certificate, as browsers show it (AB:CD:...)."""
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the console's certificate {cert}: {exc}") from None
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"cannot use the certificate {cert} with key {key}: {exc}") from None
    return context
