"""A throwaway PostgreSQL server for the tests: Debian's binaries, a data directory of its
own, 127.0.0.1 and a socket directory of its own only, password authentication over TCP.

`PostgresServer` starts it (`initdb`, then `postgres` as a child process) and stops it and
removes its files on exit; `new_database()` hands each test an empty database. PostgreSQL
refuses to run as root, so as root the server runs as Debian's `postgres` user.
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
from typing import Optional

USER = "selfinstruct"
PASSWORD = "pool-test-password"
START_TIMEOUT_S = 60


def postgres_bin_dir() -> Optional[Path]:
    """Where `initdb` and `postgres` are (Debian keeps them out of PATH), or `None`."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def unavailable_reason() -> Optional[str]:
    """Why no server can be started here (`None`: it can)."""
    if postgres_bin_dir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; scripts/test does)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'distilabel-selfinstruct[postgres]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server for a test session (a context manager)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="selfinstruct-pg-"))
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._databases = 0

    def url(self, database: str = "postgres", *, password: bool = False) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    @staticmethod
    def _server_user() -> dict[str, str]:
        # Popen's own switch (no wrapper process): signals reach postgres itself.
        return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}

    def __enter__(self) -> PostgresServer:
        try:
            self._start()
        except BaseException:
            self.__exit__()  # a failed start leaves no server and no files behind
            raise
        return self

    def _start(self) -> None:
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None, unavailable_reason()
        data, sockets = self.root / "data", self.root / "sockets"
        sockets.mkdir()
        password_file = self.root / "password"
        password_file.write_text(PASSWORD)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, sockets, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=self.root,
            **self._server_user(),
        )
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 - the server's lifetime
        self._process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={sockets}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            **self._server_user(),
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'server.log').read_text()}")
            try:
                psycopg.connect(self.url(), password=PASSWORD, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def new_database(self) -> str:
        """An empty database; its URL (without the password: tests pass it or set
        PGPASSWORD, as users do)."""
        import psycopg

        self._databases += 1
        name = f"pool_{self._databases}"
        with psycopg.connect(self.url(), password=PASSWORD, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def __exit__(self, *_: object) -> None:
        if self._process is not None and self._process.poll() is None:
            # Immediate shutdown: the data is thrown away (SIGTERM would wait for clients).
            self._process.send_signal(signal.SIGQUIT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
