"""The durable task pool that closes the Self-Instruct loop.

distilabel's graph has no cycles, but Self-Instruct feeds accepted tasks back as
demonstrations and novelty references. The pool is that back edge: a database that
`SampleDemonstrations` reads before every round, `AdmitToPool` appends accepted
instructions to, the filters record their drops in, and `CommitToPool` stores finished
tasks in. Every write is keyed by content, so a resumed run replays into the same rows
instead of duplicating them.

`PoolStore` is the interface the steps program against. `SQLPoolStore` implements it once,
in SQL both backends speak; a backend gives it a connection and two guarantees:

* a write transaction excludes every other writer from its start (one writer at a time,
  all or nothing), so the checks a write makes (the target's cap, a text already held)
  hold when it commits, and tasks become visible in the order of their `seq`;
* a multi-statement read sees one snapshot.

`SQLitePoolStore` (the embedded default, one file in the run directory) gets them from
`BEGIN IMMEDIATE` and SQLite's WAL snapshots; `pool_postgres.PostgresPoolStore` (a server
every node of a cluster reaches) from a transaction-scoped advisory lock and
`REPEATABLE READ`. `open_pool_store` picks the backend by location: a file path or
`sqlite:///path`, or a `postgresql://` URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from distilabel_selfinstruct.bootstrap.stages import POST_ACCEPT_STAGES

if TYPE_CHECKING:
    from distilabel_selfinstruct.seeds import SeedTask

# The pool's tables, in each backend's column types (`schema(dialect)`): one definition,
# so the two backends cannot drift apart.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq {serial_key},
    task_id TEXT NOT NULL UNIQUE,
    candidate_id TEXT UNIQUE,
    origin TEXT NOT NULL CHECK (origin IN ('seed', 'machine')),
    instruction TEXT NOT NULL,
    is_classification INTEGER,
    bootstrap_round INTEGER,
    rouge_l_max {real},
    most_similar_task_id TEXT,
    created_at {real} NOT NULL,
    topic TEXT,
    instruction_model TEXT
);
CREATE TABLE IF NOT EXISTS drops (
    candidate_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    score {real},
    text TEXT,
    bootstrap_round INTEGER,
    PRIMARY KEY (candidate_id, stage)
);
CREATE TABLE IF NOT EXISTS completed (
    task_id TEXT NOT NULL PRIMARY KEY,
    seq {integer} NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value {integer} NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT
);
CREATE INDEX IF NOT EXISTS drops_by_stage ON drops (stage, candidate_id);
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    task_id TEXT NOT NULL,
    vector {blob} NOT NULL,
    PRIMARY KEY (model, task_id)
);
"""
_TYPES = {
    "sqlite": {
        "serial_key": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "real": "REAL",  # 8 bytes in SQLite
        "blob": "BLOB",
        "integer": "INTEGER",  # 8 bytes in SQLite
    },
    "postgresql": {
        "serial_key": "BIGSERIAL PRIMARY KEY",
        "real": "DOUBLE PRECISION",  # PostgreSQL's REAL is 4 bytes: scores would round
        "blob": "BYTEA",
        "integer": "BIGINT",
    },
}


def schema(dialect: str) -> list[str]:
    """The statements that create the pool's tables (if missing) in `dialect`."""
    text = _SCHEMA.format(**_TYPES[dialect])
    return [statement for statement in text.split(";") if statement.strip()]


@dataclass(frozen=True)
class PoolState:
    """One consistent reading of the loop's progress: what the stop rule decides on."""

    finished: int
    accepted: int
    # Accepted tasks a later stage dropped: they will never finish.
    lost: int
    rounds: int = 0

    @property
    def in_flight(self) -> int:
        """Accepted tasks neither finished nor lost: still on their way through the steps."""
        return max(0, self.accepted - self.finished - self.lost)


def normalize_instruction(text: str) -> str:
    """Whitespace-folded text; case is kept (the paper's data is case-sensitive)."""
    return " ".join(text.split())


def task_id_for(instruction: str) -> str:
    """A content id: the same instruction gets the same id in every run."""
    digest = hashlib.sha1(normalize_instruction(instruction).encode("utf-8")).hexdigest()
    return f"machine_{digest[:16]}"


def candidate_id_for(prompt_id: str, position: int, instruction: str) -> str:
    """Identifies one parsed candidate so a replayed batch maps onto the same decision."""
    key = f"{prompt_id}\x1f{position}\x1f{normalize_instruction(instruction)}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


class PoolStore(ABC):
    """The task pool of one Self-Instruct run: what the loop's steps share.

    Open one per process (connections are not shared across processes). Every method is
    one short transaction, so concurrent steps only wait on each other for milliseconds.
    """

    # Where the store is, fit to print (a URL without its password).
    location: str

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def integrity_problems(self) -> list[str]:
        """What the backend's own consistency check finds (empty: sound)."""

    def __enter__(self) -> PoolStore:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    @abstractmethod
    def add_seeds(self, seeds: Iterable[SeedTask]) -> int:
        """Adds seed tasks once; returns how many were new."""

    @abstractmethod
    def count(self, origin: Optional[str] = None) -> int:
        """Tasks in the pool (of one origin: `seed` or `machine`)."""

    @abstractmethod
    def tasks(self, origin: Optional[str] = None, after_seq: int = 0) -> list[dict[str, Any]]:
        """Pool tasks in the order they entered the pool."""

    @abstractmethod
    def rouge_l_scores(self) -> list[float]:
        """Max ROUGE-L to the pool of every accepted machine task, in pool order."""

    @abstractmethod
    def accepted_candidate(self, candidate_id: str) -> Optional[dict[str, Any]]:
        """The earlier acceptance of this candidate, when a batch is replayed after a crash."""

    @abstractmethod
    def accept(
        self,
        *,
        candidate_id: str,
        instruction: str,
        bootstrap_round: Optional[int],
        rouge_l_max: float,
        most_similar_task_id: Optional[str],
        topic: Optional[str] = None,
        instruction_model: Optional[str] = None,
    ) -> Optional[str]:
        """Adds a machine task; its task id, or `None` if another candidate holds the text."""

    @abstractmethod
    def topic_counts(self) -> Counter[str]:
        """Machine tasks in the pool per topic (topic steering; tasks without one left out)."""

    @abstractmethod
    def state(self) -> PoolState:
        """Finished, accepted and lost tasks, and rounds, read in one snapshot."""

    @abstractmethod
    def unfinished_tasks(self) -> list[dict[str, Any]]:
        """Accepted tasks neither finished nor lost (what a killed run had in flight)."""

    @abstractmethod
    def record_drops(self, drops: Iterable[dict[str, Any]]) -> None:
        """Records why candidates left the run, once per (candidate, stage)."""

    @abstractmethod
    def drop_counts(self) -> Counter[tuple[str, str]]:
        """Drops per (stage, reason)."""

    @abstractmethod
    def drops(self) -> list[dict[str, Any]]:
        """Every recorded drop."""

    @abstractmethod
    def complete(self, records: Iterable[dict[str, Any]], limit: Optional[int] = None) -> int:
        """Stores finished tasks (at most `limit` in all); how many of them are stored."""

    @abstractmethod
    def completed(self) -> list[dict[str, Any]]:
        """The finished task records, in pool order."""

    @abstractmethod
    def completed_ids(self) -> set[str]:
        """Ids of the finished tasks."""

    @abstractmethod
    def completed_count(self) -> int:
        """How many tasks are finished."""

    @abstractmethod
    def increment(self, name: str, by: int = 1) -> None:
        """Adds to a named counter."""

    @abstractmethod
    def increment_many(self, values: dict[str, int]) -> None:
        """Adds to several named counters in one transaction."""

    @abstractmethod
    def counters(self) -> dict[str, int]:
        """Every named counter."""

    @abstractmethod
    def set_meta(self, name: str, value: Optional[str]) -> None:
        """Sets a named text value of the run (e.g. why its last invocation stopped)."""

    @abstractmethod
    def meta(self, name: str) -> Optional[str]:
        """A named text value of the run, `None` if unset."""

    @abstractmethod
    def put_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        """Stores float32 vectors by content id (`task_id_for` of the text) for one
        embeddings model; an existing vector is kept (the same text has the same one)."""

    @abstractmethod
    def embeddings(self, model: str, task_ids: Iterable[str]) -> dict[str, bytes]:
        """The stored vectors of these content ids for one model (missing ids left out)."""


class PoolDamagedError(Exception):
    """The pool store cannot be read: missing, empty, not a pool, or corrupt. The message is
    one line naming the file and the problem."""


class PoolUnavailableError(Exception):
    """The pool store cannot be read or written right now (a full disk, an I/O error); the
    file itself is not known to be damaged. One line naming the file."""


# SQLite's primary result codes for a failing disk (SQLITE_IOERR, SQLITE_FULL), not a
# damaged file; the message words where Python does not give the code (before 3.11).
_DISK_CODES = (10, 13)
_DISK_WORDS = ("disk i/o error", "disk is full")


def is_disk_error(error: sqlite3.Error) -> bool:
    """Whether SQLite failed because of the disk (full, I/O), not the file's content."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _DISK_CODES
    return any(words in str(error).lower() for words in _DISK_WORDS)


def pool_is_blank(path: Union[str, Path]) -> bool:
    """Whether the file at `path` holds no pool data at all: 0 bytes, or a database whose
    schema is empty (a store killed between its creation and its first commit)."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.stat().st_size == 0:
        return True
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (tables,) = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return tables == 0


SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_networked(location: Union[str, Path]) -> bool:
    """Whether `location` names a server (PostgreSQL) rather than a local SQLite file."""
    return str(location).startswith(POSTGRES_SCHEMES)


def split_password(location: str) -> tuple[str, Optional[str]]:
    """`location` without the password a URL carries, and that password (`None`: none).

    What is left is safe to save in a pipeline YAML and to print; the password is meant to
    come from the environment (`PGPASSWORD`, `~/.pgpass`) wherever the YAML runs.
    """
    if not is_networked(location):
        return location, None
    parts = urlsplit(location)
    password: Optional[str] = None
    netloc = parts.netloc
    # By text, not `hostname`/`port`: libpq URLs may list several hosts (h1:5432,h2:5433).
    if "@" in netloc:
        user, hosts = netloc.rsplit("@", 1)
        if ":" in user:
            user, secret = user.split(":", 1)
            password = unquote(secret)
        netloc = f"{user}@{hosts}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in query if key != "password"]
    if len(kept) != len(query):
        password = password or next(value for key, value in query if key == "password")
    if password is None:
        return location, None
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(kept))), password


def sqlite_path(location: Union[str, Path]) -> Path:
    """The file of a SQLite location (a path, or `sqlite:///path`)."""
    text = str(location)
    return Path(text[len(SQLITE_SCHEME) :] if text.startswith(SQLITE_SCHEME) else text)


def open_pool_store(
    location: Union[str, Path], *, create: bool = True, password: Optional[str] = None
) -> PoolStore:
    """The store at `location`: a file path or `sqlite:///path` (the embedded SQLite
    store), or a `postgresql://user@host:port/dbname` URL.

    Args:
        location: where the store is.
        create: create a missing store (a new run). With `False` (export, summary,
            verify) a missing, empty or foreign store raises `PoolDamagedError`.
        password: the PostgreSQL password, if not in the URL or libpq's environment
            (`PGPASSWORD`, `~/.pgpass`).

    Raises:
        PoolDamagedError: the store exists but is not a readable pool.
        PoolUnavailableError: the store cannot be reached or written right now.
    """
    if is_networked(location):
        from distilabel_selfinstruct.pool_postgres import PostgresPoolStore

        return PostgresPoolStore(str(location), create=create, password=password)
    return SQLitePoolStore(sqlite_path(location), create=create)


_TABLES = ("tasks", "drops", "completed", "counters", "meta")


class SQLPoolStore(PoolStore):
    """The pool's queries, in the SQL SQLite and PostgreSQL share (`?` placeholders; a
    backend translates them if its driver wants others).

    A backend provides `_execute`, `_executemany`, `_write` (a transaction that excludes
    every other writer from its start) and `_read` (one snapshot), and creates the schema.
    """

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Runs one statement; a DB-API cursor (`fetchone`, `fetchall`, `rowcount`)."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _write(self) -> contextlib.AbstractContextManager[Any]: ...

    @abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Any]: ...

    @abstractmethod
    def _table_names(self) -> set[str]:
        """The tables the store holds."""

    def _missing_tables(self) -> list[str]:
        return sorted(set(_TABLES) - self._table_names())

    def _require_tables(self) -> None:
        """For a store opened to be read, not created: a store without the pool's tables
        is not a pool."""
        missing = self._missing_tables()
        if missing:
            raise PoolDamagedError(
                f"{self.location}: not a task pool (no table {', '.join(missing)})"
            )

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- tasks ---------------------------------------------------------------------------

    def add_seeds(self, seeds: Iterable[SeedTask]) -> int:
        """Adds seed tasks once; returns how many were new."""
        now = time.time()
        rows = [
            (seed.id, "seed", seed.instruction, int(seed.is_classification), now) for seed in seeds
        ]
        with self._write():
            before = self.count()
            self._executemany(
                "INSERT INTO tasks (task_id, origin, instruction, is_classification, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )
            return self.count() - before

    def count(self, origin: Optional[str] = None) -> int:
        if origin is None:
            return int(self._scalar("SELECT COUNT(*) FROM tasks"))
        return int(self._scalar("SELECT COUNT(*) FROM tasks WHERE origin = ?", (origin,)))

    def tasks(self, origin: Optional[str] = None, after_seq: int = 0) -> list[dict[str, Any]]:
        """Pool tasks in the order they entered the pool."""
        query = (
            "SELECT seq, task_id, origin, instruction, bootstrap_round, candidate_id"
            " FROM tasks WHERE seq > ?"
        )
        params: list[Any] = [after_seq]
        if origin is not None:
            query += " AND origin = ?"
            params.append(origin)
        rows = self._execute(query + " ORDER BY seq", params).fetchall()
        keys = ("seq", "task_id", "origin", "instruction", "bootstrap_round", "candidate_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def rouge_l_scores(self) -> list[float]:
        """Max ROUGE-L to the pool of every accepted machine task, in pool order."""
        rows = self._execute(
            "SELECT rouge_l_max FROM tasks WHERE origin = 'machine' AND rouge_l_max IS NOT NULL"
            " ORDER BY seq"
        ).fetchall()
        return [float(row[0]) for row in rows]

    def accepted_candidate(self, candidate_id: str) -> Optional[dict[str, Any]]:
        """The earlier acceptance of this candidate, when a batch is replayed after a crash."""
        row = self._execute(
            "SELECT task_id, rouge_l_max, most_similar_task_id FROM tasks WHERE candidate_id = ?",
            (candidate_id,),
        ).fetchone()
        if row is None:
            return None
        return {"task_id": row[0], "rouge_l_max": row[1], "most_similar_task_id": row[2]}

    def accept(
        self,
        *,
        candidate_id: str,
        instruction: str,
        bootstrap_round: Optional[int],
        rouge_l_max: float,
        most_similar_task_id: Optional[str],
        topic: Optional[str] = None,
        instruction_model: Optional[str] = None,
    ) -> Optional[str]:
        """Adds a machine task to the pool and returns its task id (again for a replay of
        the same candidate), or `None` when the pool already holds the same instruction as
        another candidate's or a seed."""
        task_id = task_id_for(instruction)
        with self._write():
            cursor = self._execute(
                "INSERT INTO tasks (task_id, candidate_id, origin, instruction,"
                " bootstrap_round, rouge_l_max, most_similar_task_id, created_at, topic,"
                " instruction_model) VALUES (?, ?, 'machine', ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    task_id,
                    candidate_id,
                    instruction,
                    bootstrap_round,
                    rouge_l_max,
                    most_similar_task_id,
                    time.time(),
                    topic,
                    instruction_model,
                ),
            )
            if cursor.rowcount == 1:
                return task_id
            owner = self._scalar("SELECT candidate_id FROM tasks WHERE task_id = ?", (task_id,))
        # The same candidate again (a replay) keeps its task; another candidate does not.
        return task_id if owner == candidate_id else None

    def topic_counts(self) -> Counter[str]:
        rows = self._execute(
            "SELECT topic, COUNT(*) FROM tasks WHERE origin = 'machine' AND topic IS NOT NULL"
            " GROUP BY topic"
        ).fetchall()
        return Counter({topic: int(count) for topic, count in rows})

    def state(self) -> PoolState:
        stages = sorted(str(stage) for stage in POST_ACCEPT_STAGES)
        marks = ",".join("?" for _ in stages)
        with self._read():
            finished = self._scalar("SELECT COUNT(*) FROM completed")
            accepted = self._scalar("SELECT COUNT(*) FROM tasks WHERE origin = 'machine'")
            # From the (few) late drops, by index: not a scan of the pool.
            lost = self._scalar(
                "SELECT COUNT(DISTINCT t.task_id) FROM drops d"
                " JOIN tasks t ON t.candidate_id = d.candidate_id"
                f" WHERE d.stage IN ({marks}) AND t.origin = 'machine'"
                " AND NOT EXISTS (SELECT 1 FROM completed c WHERE c.task_id = t.task_id)",
                stages,
            )
            rounds = self._scalar("SELECT value FROM counters WHERE name = 'rounds'")
        return PoolState(
            finished=int(finished),
            accepted=int(accepted),
            lost=int(lost),
            rounds=int(rounds or 0),
        )

    def unfinished_tasks(self) -> list[dict[str, Any]]:
        """Machine tasks accepted but neither finished nor dropped later: the work a killed
        run had in flight after the novelty filter."""
        stages = sorted(str(stage) for stage in POST_ACCEPT_STAGES)
        marks = ",".join("?" for _ in stages)
        rows = self._execute(
            "SELECT t.seq, t.task_id, t.candidate_id, t.instruction, t.bootstrap_round,"
            " t.rouge_l_max, t.most_similar_task_id, s.instruction, t.topic, t.instruction_model"
            " FROM tasks t"
            " LEFT JOIN tasks s ON s.task_id = t.most_similar_task_id"
            " WHERE t.origin = 'machine'"
            " AND t.task_id NOT IN (SELECT task_id FROM completed)"
            " AND t.candidate_id NOT IN"
            f" (SELECT candidate_id FROM drops WHERE stage IN ({marks}))"
            " ORDER BY t.seq",
            stages,
        ).fetchall()
        keys = (
            "seq",
            "task_id",
            "candidate_id",
            "instruction",
            "bootstrap_round",
            "rouge_l_max",
            "most_similar_task_id",
            "most_similar_instruction",
            "topic",
            "instruction_model",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- drops ---------------------------------------------------------------------------

    def record_drops(self, drops: Iterable[dict[str, Any]]) -> None:
        """Records why candidates left the run; keyed by (candidate, stage), so replays
        don't double count."""
        rows = [
            (
                drop["candidate_id"],
                str(drop["stage"]),
                str(drop["reason"]),
                drop.get("score"),
                drop.get("text"),
                drop.get("bootstrap_round"),
            )
            for drop in drops
        ]
        if not rows:
            return
        with self._write():
            self._executemany(
                "INSERT INTO drops (candidate_id, stage, reason, score, text, bootstrap_round)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (candidate_id, stage) DO UPDATE SET"
                " reason = excluded.reason, score = excluded.score, text = excluded.text,"
                " bootstrap_round = excluded.bootstrap_round",
                rows,
            )

    def drop_counts(self) -> Counter[tuple[str, str]]:
        rows = self._execute(
            "SELECT stage, reason, COUNT(*) FROM drops GROUP BY stage, reason"
        ).fetchall()
        return Counter({(stage, reason): int(count) for stage, reason, count in rows})

    def drops(self) -> list[dict[str, Any]]:
        rows = self._execute(
            "SELECT candidate_id, stage, reason, score, text, bootstrap_round FROM drops"
        ).fetchall()
        keys = ("candidate_id", "stage", "reason", "score", "text", "bootstrap_round")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- finished tasks ------------------------------------------------------------------

    def complete(self, records: Iterable[dict[str, Any]], limit: Optional[int] = None) -> int:
        """Stores finished tasks (instruction + instances); the latest write of a task wins.

        With `limit`, a task not stored yet is only added while fewer than `limit` are
        (checked in the same transaction, so the pool never overshoots the target).
        Returns how many of `records` are stored now.
        """
        stored = 0
        with self._write():
            for record in records:
                task_id = record["task_id"]
                known = self._scalar("SELECT 1 FROM completed WHERE task_id = ?", (task_id,))
                if known is None and limit is not None:
                    if self._scalar("SELECT COUNT(*) FROM completed") >= limit:
                        continue
                seq = self._scalar(
                    "SELECT COALESCE((SELECT seq FROM tasks WHERE task_id = ?),"
                    " (SELECT COALESCE(MAX(seq), 0) + 1 FROM completed))",
                    (task_id,),
                )
                self._execute(
                    "INSERT INTO completed (task_id, seq, record) VALUES (?, ?, ?)"
                    " ON CONFLICT (task_id) DO UPDATE SET seq = excluded.seq,"
                    " record = excluded.record",
                    (task_id, seq, json.dumps(record, ensure_ascii=False)),
                )
                stored += 1
        return stored

    def completed(self) -> list[dict[str, Any]]:
        rows = self._execute("SELECT record FROM completed ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    def completed_ids(self) -> set[str]:
        """Ids of the finished tasks (without decoding their records)."""
        rows = self._execute("SELECT task_id FROM completed").fetchall()
        return {row[0] for row in rows}

    def completed_count(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM completed"))

    # -- counters ------------------------------------------------------------------------

    _INCREMENT = (
        "INSERT INTO counters (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value"
    )

    def increment(self, name: str, by: int = 1) -> None:
        with self._write():
            self._execute(self._INCREMENT, (name, by))

    def increment_many(self, values: dict[str, int]) -> None:
        with self._write():
            self._executemany(self._INCREMENT, list(values.items()))

    def counters(self) -> dict[str, int]:
        rows = self._execute("SELECT name, value FROM counters").fetchall()
        return {name: int(value) for name, value in rows}

    # -- run metadata --------------------------------------------------------------------

    def set_meta(self, name: str, value: Optional[str]) -> None:
        with self._write():
            self._execute(
                "INSERT INTO meta (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def meta(self, name: str) -> Optional[str]:
        return self._scalar("SELECT value FROM meta WHERE name = ?", (name,))

    # -- embeddings (semantic novelty) ---------------------------------------------------

    def put_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        if not vectors:
            return
        with self._write():
            self._executemany(
                "INSERT INTO embeddings (model, task_id, vector) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(model, task_id, vector) for task_id, vector in vectors.items()],
            )

    def embeddings(self, model: str, task_ids: Iterable[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(task_ids))
        found: dict[str, bytes] = {}
        # SQLite caps bound parameters; 500 ids per query stays well inside any build.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._execute(
                f"SELECT task_id, vector FROM embeddings WHERE model = ? AND task_id IN ({marks})",
                [model, *chunk],
            ).fetchall()
            found.update((task_id, bytes(vector)) for task_id, vector in rows)
        return found


class SQLitePoolStore(SQLPoolStore):
    """The pool in one SQLite file (WAL mode, so readers never block the writer)."""

    def __init__(self, path: Union[str, Path], *, create: bool = True) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        if not create:
            if self.path.is_dir():
                raise PoolDamagedError(f"{self.path}: is a directory, not a pool store")
            if not self.path.is_file():
                raise PoolDamagedError(f"{self.path}: no such file")
            if self.path.stat().st_size == 0:
                raise PoolDamagedError(f"{self.path}: the pool store is empty (0 bytes)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: every transaction is opened explicitly below.
            self._connection = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as error:
            raise PoolDamagedError(f"{self.path}: cannot open the pool store ({error})") from None
        try:
            self._connection.execute("PRAGMA synchronous=NORMAL")
            if create:
                # Persistent in the file: a pool this package created is in WAL mode, and
                # a foreign file opened only to be checked is left as it was.
                self._connection.execute("PRAGMA journal_mode=WAL")
                with self._write() as connection:
                    for statement in schema("sqlite"):
                        connection.execute(statement)
                    # Pools created before topic steering and model mixes lack the columns.
                    columns = {row[1] for row in connection.execute("PRAGMA table_info(tasks)")}
                    for column in ("topic", "instruction_model"):
                        if column not in columns:
                            connection.execute(f"ALTER TABLE tasks ADD COLUMN {column} TEXT")
            else:
                self._require_tables()
        except sqlite3.DatabaseError as error:
            self._connection.close()
            if is_disk_error(error):
                raise PoolUnavailableError(
                    f"{self.path}: cannot be read or written ({error}); is the disk full?"
                ) from None
            raise PoolDamagedError(f"{self.path}: damaged ({error})") from None
        except BaseException:
            self._connection.close()
            raise

    def _table_names(self) -> set[str]:
        rows = self._connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def integrity_problems(self) -> list[str]:
        """SQLite's own check of the file (`PRAGMA quick_check`): empty when it is sound."""
        try:
            rows = self._connection.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as error:
            return [str(error)]
        return [row[0] for row in rows if row[0] != "ok"]

    def close(self) -> None:
        self._connection.close()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection.executemany(sql, rows)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: takes the write lock up front (no lock-upgrade deadlock
        between processes), commits on success, rolls back on any exception."""
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: its statements all see one snapshot."""
        self._connection.execute("BEGIN")
        try:
            yield self._connection
        finally:
            self._connection.execute("COMMIT")
