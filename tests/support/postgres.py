"""A throw-away PostgreSQL server on 127.0.0.1 for tests: Debian's binaries, a temporary data folder, stopped by
its own process id.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} not found: install Debian's postgresql package (scripts/test does)")
    return candidates[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """Start with :meth:`start`, use :attr:`url`, stop with :meth:`stop` (always, in ``finally``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="shequn-pg-"))
        self.data = self.dir / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.user: str | None = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/shequn_test"

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self.user, group=self.user)

    def start(self) -> PostgresServer:
        if self.user:
            uid = pwd.getpwnam(self.user).pw_uid
            os.chown(self.dir, uid, -1)
        self._run(
            _bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"
        )
        log = open(self.dir / "server.log", "wb")  # noqa: SIM115 - the server writes to it until stopped
        self.proc = subprocess.Popen(
            [
                _bin("postgres"),
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-F",
                "-c",
                "max_connections=50",
                "-c",
                "shared_buffers=64MB",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.user,
            group=self.user,
        )
        deadline = time.monotonic() + 30
        import psycopg

        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
                ) as conn:
                    conn.execute("CREATE DATABASE shequn_test")
                return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log_tail = (self.dir / "server.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"PostgreSQL did not start: {log_tail}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown by process id, then remove the data folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def reset(self) -> None:
        """Drop and recreate the test database (between tests that need a clean one)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("DROP DATABASE IF EXISTS shequn_test WITH (FORCE)")
            conn.execute("CREATE DATABASE shequn_test")
