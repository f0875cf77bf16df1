"""A real PostgreSQL for the clinic store's tests and benchmark: Debian's server binaries, run as
`nobody` (it refuses root), with a private data directory and a Unix socket in a temporary folder
(TCP only with TLS, when asked). Password authentication (scram-sha-256) even on the socket, as a
practice's server asks it. It may be stopped and started again (the store away mid-session)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ADMIN = "clinicadmin"            # the practice's IT person: owner of the clinic's database
ADMIN_PASSWORD = "admin-secret-for-tests"
DATABASE = "rugcoach_clinic"


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self):
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL's server is not installed (make test installs Debian's postgresql)")
        self.bin = binaries
        # outside pytest's root-only temp folders: `nobody` must reach it
        self.root = Path(tempfile.mkdtemp(prefix="rugcoach-pg-"))
        self.data, self.socket_dir = self.root / "data", self.root / "socket"
        self.socket_dir.mkdir()
        os.chmod(self.root, 0o755)
        shutil.chown(self.socket_dir, "nobody")
        password_file = self.root / "pw"
        password_file.write_text(ADMIN_PASSWORD + "\n")
        shutil.chown(password_file, "nobody")
        shutil.chown(self.root, "nobody")
        self._as_nobody([self.bin / "initdb", "-D", self.data, "-U", ADMIN, f"--pwfile={password_file}",
                         "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        password_file.unlink()

    def _as_nobody(self, command: list, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "nobody", "--"] + [str(c) for c in command], cwd=self.root,
                              capture_output=True, text=True, check=check, timeout=120)

    def start(self, tls_port: int | None = None) -> PostgresServer:
        """`tls_port`: listen on 127.0.0.1 there too, with TLS (a certificate for "localhost",
        signed by this server's own test CA, `self.ca`)."""
        options = f"-k {self.socket_dir} -c listen_addresses=''"
        self.port = tls_port or 5432   # the Unix socket is named after the port too
        if tls_port:
            self._certificates()
            options = (f"-k {self.socket_dir} -c listen_addresses=127.0.0.1 -p {tls_port} -c ssl=on "
                       f"-c ssl_cert_file={self.root / 'server.crt'} -c ssl_key_file={self.root / 'server.key'}")
        self._as_nobody([self.bin / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-w", "-t", "60",
                         "-o", options, "start"])
        return self

    def _certificates(self) -> None:
        self.ca = self.root / "ca.crt"
        if self.ca.exists():
            return
        run = lambda *args: subprocess.run(["openssl", *map(str, args)], cwd=self.root, check=True,  # noqa: E731
                                           capture_output=True, timeout=60)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Praktijk test-CA",
            "-keyout", "ca.key", "-out", "ca.crt")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.csr")
        (self.root / "san.ext").write_text("subjectAltName=DNS:localhost\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
        for name in ("server.key", "server.crt"):
            shutil.chown(self.root / name, "nobody")
        os.chmod(self.root / "server.key", 0o600)
        os.chmod(self.ca, 0o644)

    def stop(self, mode: str = "fast") -> None:
        self._as_nobody([self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"], check=False)

    def url(self, user: str = ADMIN, database: str = DATABASE) -> str:
        """A libpq URL on the Unix socket (no password in it: the box keeps its secret in a file)."""
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={getattr(self, 'port', 5432)}"

    def admin_sql(self, sql: str, database: str = "postgres") -> None:
        import psycopg
        with psycopg.connect(self.url(database=database), password=ADMIN_PASSWORD, autocommit=True) as db:
            db.execute(sql)   # type: ignore[arg-type]

    def create_database(self) -> str:
        self.admin_sql(f"CREATE DATABASE {DATABASE}")
        return self.url()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
