"""The task pool in PostgreSQL: the store every node of a cluster reaches.

Chosen over SQLAlchemy: the pool is one set of SQL statements (`pool.SQLPoolStore`) that
SQLite and PostgreSQL both speak, so an ORM or a dialect layer would add a dependency and
indirection for nothing; psycopg 3 is the maintained PostgreSQL driver (libpq underneath,
so libpq's environment works: `PGPASSWORD`, `~/.pgpass`, `PGSSLMODE`, ...).

The guarantees `SQLPoolStore` relies on:

* Writes: every write transaction runs at READ COMMITTED (whatever the server's default)
  and first takes one transaction-scoped advisory lock, the
  counterpart of SQLite's `BEGIN IMMEDIATE`. Writers run one at a time, so a write's
  checks (the target's cap in `complete`, a text already held in `accept`) still hold
  when it commits, and `seq` values become visible in the order they were drawn: a reader
  that asks for the tasks after the last `seq` it saw never skips one committed late.
* Reads: a multi-statement read runs in one `REPEATABLE READ` transaction (one snapshot).
* Idempotence: the same content keys and `ON CONFLICT` clauses as SQLite.

One database (or schema, through libpq's `options=-csearch_path=...`) holds one run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional

from distilabel_selfinstruct.pool import (
    PoolUnavailableError,
    SQLPoolStore,
    schema,
    split_password,
)

# The advisory lock all of a database's pool writers take (a fixed 63-bit key).
WRITE_LOCK_KEY = int.from_bytes(hashlib.sha1(b"distilabel_selfinstruct.pool").digest()[:8]) >> 1
CONNECT_TIMEOUT_S = 10


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class PostgresPoolStore(SQLPoolStore):
    """The pool in a PostgreSQL database.

    Args:
        url: `postgresql://user@host:port/dbname` (libpq's URL form). A password in it is
            used but never shown: `location` and every message leave it out.
        create: create the tables if missing (a new run); with `False` a database without
            them raises `PoolDamagedError`.
        password: the password, if not in the URL or libpq's environment.
    """

    def __init__(self, url: str, *, create: bool = True, password: Optional[str] = None) -> None:
        import psycopg

        self._operational = psycopg.OperationalError
        self.location, in_url = split_password(url)
        password = password or in_url
        try:
            self._connection = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="distilabel-selfinstruct",
                **({"password": password} if password else {}),
            )
        except psycopg.Error as error:
            raise PoolUnavailableError(
                f"{self.location}: cannot connect to the pool store ({_first_line(error)})"
            ) from None
        try:
            if not create:
                self._require_tables()
            elif self._missing_tables():
                # Only when missing: DDL needs rights a role granted only DML on an existing
                # pool lacks, and every step's open would queue behind the write lock.
                with self._write():
                    for statement in schema("postgresql"):
                        self._connection.execute(statement)
        except BaseException:
            self._connection.close()
            raise

    def _table_names(self) -> set[str]:
        rows = self._execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = ANY (current_schemas(false))"
        ).fetchall()
        return {row[0] for row in rows}

    def integrity_problems(self) -> list[str]:
        """Tables the pool needs and the database lacks (PostgreSQL keeps its own files
        consistent; there is no file of ours to check)."""
        return [f"no table {name}" for name in self._missing_tables()]

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _unavailable_as_ours(self) -> Iterator[None]:
        # A server gone mid-run is not a damaged pool: say so in one line.
        try:
            yield
        except self._operational as error:
            raise PoolUnavailableError(
                f"{self.location}: the pool store failed ({_first_line(error)})"
            ) from None

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    @staticmethod
    def _params(params: Sequence[Any]) -> list[Any]:
        # PostgreSQL text cannot hold NUL (SQLite's can); a garbage reply may carry one.
        return [value.replace("\x00", "") if isinstance(value, str) else value for value in params]

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._unavailable_as_ours():
            return self._connection.execute(self._sql(sql), self._params(params))

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._unavailable_as_ours(), self._connection.cursor() as cursor:
            cursor.executemany(self._sql(sql), [self._params(row) for row in rows])

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A write transaction: the pool's write lock first, commit on success, roll back on
        any exception."""
        with self._unavailable_as_ours(), self._connection.transaction():
            # READ COMMITTED whatever the server's default: each statement after the lock
            # must see what the previous writer committed (a snapshot taken at the lock's
            # statement, as REPEATABLE READ would, would not).
            self._connection.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            self._connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            yield self._connection

    @contextmanager
    def _read(self) -> Iterator[Any]:
        """A read transaction: its statements all see one snapshot."""
        with self._unavailable_as_ours(), self._connection.transaction():
            self._connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield self._connection
