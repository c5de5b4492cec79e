"""The pool store suite, run on both backends (`pool_location`: SQLite, PostgreSQL):
idempotent writes (so replays don't duplicate), shared access, one writer at a time."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest

from distilabel_selfinstruct.pool import (
    PoolDamagedError,
    PoolState,
    PoolStore,
    candidate_id_for,
    is_networked,
    normalize_instruction,
    open_pool_store,
    pool_is_blank,
    split_password,
    task_id_for,
)
from distilabel_selfinstruct.seeds import Instance, SeedTask

SEEDS = [
    SeedTask("seed_task_0", "a", "Name three colors.", (Instance("", "Red, blue, green."),)),
    SeedTask("seed_task_1", "b", "Is this spam?", (Instance("Win $$$", "Spam"),), True),
]


def accept(store: PoolStore, instruction: str, candidate_id: str, score: float = 0.2) -> str:
    return store.accept(
        candidate_id=candidate_id,
        instruction=instruction,
        bootstrap_round=1,
        rouge_l_max=score,
        most_similar_task_id="seed_task_0",
    )


@pytest.fixture
def store(pool_location: str):
    with open_pool_store(pool_location) as opened:
        yield opened


def in_transaction(store: PoolStore) -> bool:
    connection = store._connection
    if isinstance(connection, sqlite3.Connection):
        return connection.in_transaction
    from psycopg.pq import TransactionStatus

    return connection.info.transaction_status != TransactionStatus.IDLE


def test_ids_are_content_ids() -> None:
    assert normalize_instruction("  Write\n a   Poem. ") == "Write a Poem."
    assert task_id_for("Write a poem.") == task_id_for(" Write  a poem.\n")
    # Case is kept: the paper's data is case-sensitive.
    assert task_id_for("Write a poem.") != task_id_for("write a poem.")
    assert task_id_for("Write a poem.").startswith("machine_")
    assert candidate_id_for("r0p0", 1, "Do X.") == candidate_id_for("r0p0", 1, "Do  X.")
    assert candidate_id_for("r0p0", 1, "Do X.") != candidate_id_for("r0p0", 2, "Do X.")
    assert candidate_id_for("r0p0", 1, "Do X.") != candidate_id_for("r0p1", 1, "Do X.")


def test_store_creates_missing_parent_directories(tmp_path: Path) -> None:
    with open_pool_store(tmp_path / "a" / "b" / "pool.sqlite") as store:
        assert store.count() == 0
    assert (tmp_path / "a" / "b" / "pool.sqlite").exists()


def test_add_seeds_is_idempotent(store: PoolStore) -> None:
    assert store.add_seeds(SEEDS) == 2
    assert store.add_seeds(SEEDS) == 0
    assert store.count() == 2 and store.count("seed") == 2 and store.count("machine") == 0
    tasks = store.tasks()
    assert [t["task_id"] for t in tasks] == ["seed_task_0", "seed_task_1"]
    assert [t["origin"] for t in tasks] == ["seed", "seed"]
    assert tasks[0]["instruction"] == "Name three colors."


def test_accept_returns_content_id_and_is_idempotent(store: PoolStore) -> None:
    store.add_seeds(SEEDS)
    task_id = accept(store, "Write a haiku about rust.", "c1")
    assert task_id == task_id_for("Write a haiku about rust.")
    assert accept(store, "Write a haiku about rust.", "c1") == task_id
    assert store.count("machine") == 1
    machine = store.tasks(origin="machine")
    assert [(t["task_id"], t["bootstrap_round"]) for t in machine] == [(task_id, 1)]
    # tasks() can continue from the last seq seen.
    last_seed_seq = store.tasks(origin="seed")[-1]["seq"]
    assert [t["task_id"] for t in store.tasks(after_seq=last_seed_seq)] == [task_id]


def test_accepted_candidate_replay(store: PoolStore) -> None:
    assert store.accepted_candidate("c1") is None
    task_id = accept(store, "Write a haiku about rust.", "c1", score=0.41)
    assert store.accepted_candidate("c1") == {
        "task_id": task_id,
        "rouge_l_max": 0.41,
        "most_similar_task_id": "seed_task_0",
    }
    assert store.accepted_candidate("c2") is None


def test_record_drops_is_idempotent_per_candidate_and_stage(store: PoolStore) -> None:
    drop = {"candidate_id": "c1", "stage": "rouge_l", "reason": "rouge_l_too_similar", "score": 0.9}
    store.record_drops([drop])
    store.record_drops([drop])
    assert store.drop_counts() == Counter({("rouge_l", "rouge_l_too_similar"): 1})
    # The same candidate at another stage is another drop.
    store.record_drops([{"candidate_id": "c1", "stage": "commit", "reason": "target_reached"}])
    store.record_drops([])
    assert store.drop_counts() == Counter(
        {("rouge_l", "rouge_l_too_similar"): 1, ("commit", "target_reached"): 1}
    )
    recorded = {d["stage"]: d for d in store.drops()}
    assert recorded["rouge_l"]["score"] == 0.9
    assert recorded["commit"]["score"] is None and recorded["commit"]["text"] is None


def test_drop_counts_group_by_stage_and_reason(store: PoolStore) -> None:
    store.record_drops(
        [
            {"candidate_id": f"c{i}", "stage": "instruction_filters", "reason": reason}
            for i, reason in enumerate(["too_short", "too_short", "too_long"])
        ]
        + [{"candidate_id": "c0", "stage": "rouge_l", "reason": "too_short", "bootstrap_round": 3}]
    )
    assert store.drop_counts() == Counter(
        {
            ("instruction_filters", "too_short"): 2,
            ("instruction_filters", "too_long"): 1,
            ("rouge_l", "too_short"): 1,
        }
    )
    assert [d["bootstrap_round"] for d in store.drops() if d["stage"] == "rouge_l"] == [3]


def test_complete_dedups_by_task_id_and_keeps_pool_order(store: PoolStore) -> None:
    store.add_seeds(SEEDS)
    ids = [accept(store, f"Machine task number {i}.", f"c{i}") for i in range(3)]
    store.complete([{"task_id": ids[2], "instruction": "third", "instances": []}])
    store.complete([{"task_id": ids[0], "instruction": "first", "instances": []}])
    store.complete(
        [
            {"task_id": ids[1], "instruction": "second", "instances": []},
            {
                "task_id": ids[0],
                "instruction": "first, rewritten",
                "instances": [{"input": "", "output": "é"}],
            },
        ]
    )
    completed = store.completed()
    assert [r["task_id"] for r in completed] == ids
    assert store.completed_count() == 3
    # The latest write of a task wins, non-ASCII text survives.
    assert completed[0]["instruction"] == "first, rewritten"
    assert completed[0]["instances"] == [{"input": "", "output": "é"}]


def test_counters(store: PoolStore) -> None:
    assert store.counters() == {}
    store.increment("instruction_prompts", 4)
    store.increment("instruction_prompts", 4)
    store.increment("other")
    assert store.counters() == {"instruction_prompts": 8, "other": 1}


def test_two_stores_on_one_pool_see_each_others_writes(pool_location: str) -> None:
    # Two connections stand for two distilabel step processes.
    with open_pool_store(pool_location) as writer, open_pool_store(pool_location) as reader:
        writer.add_seeds(SEEDS)
        assert reader.count("seed") == 2
        task_id = accept(reader, "Write a haiku about rust.", "c1")
        assert writer.accepted_candidate("c1")["task_id"] == task_id
        assert [t["task_id"] for t in writer.tasks(origin="machine")] == [task_id]
        writer.record_drops([{"candidate_id": "c9", "stage": "rouge_l", "reason": "x"}])
        reader.record_drops([{"candidate_id": "c9", "stage": "rouge_l", "reason": "x"}])
        assert writer.drop_counts() == reader.drop_counts() == Counter({("rouge_l", "x"): 1})
        reader.complete([{"task_id": task_id, "instances": []}])
        writer.increment("n")
        reader.increment("n")
        assert writer.completed_count() == 1
        assert reader.counters() == writer.counters() == {"n": 2}
    # And the data outlives the connections.
    with open_pool_store(pool_location) as again:
        assert again.count() == 3 and again.completed_count() == 1


def test_unfinished_tasks_are_accepted_but_neither_finished_nor_lost(pool_location) -> None:
    with open_pool_store(pool_location) as store:
        ids = [
            store.accept(
                candidate_id=f"c{i}",
                instruction=f"Describe planet number {i} in two sentences.",
                bootstrap_round=0,
                rouge_l_max=0.1,
                most_similar_task_id=None,
            )
            for i in range(4)
        ]
        store.complete([{"task_id": ids[0], "instruction": "x", "instances": []}])
        store.record_drops(
            [{"candidate_id": "c1", "stage": "instances", "reason": "no_valid_instances"}]
        )
        # A drop before acceptance (another stage) does not make a task lost.
        store.record_drops([{"candidate_id": "c2", "stage": "rouge_l", "reason": "x"}])
        unfinished = store.unfinished_tasks()
    assert [task["candidate_id"] for task in unfinished] == ["c2", "c3"]
    assert unfinished[0]["instruction"] == "Describe planet number 2 in two sentences."


def test_accept_refuses_an_instruction_the_pool_already_holds_for_another_candidate(
    store: PoolStore,
) -> None:
    first = accept(store, "Write a haiku about rust.", "c1")
    assert first is not None
    assert accept(store, "Write a haiku about rust.", "c2") is None
    assert store.count("machine") == 1


# -- transactions and the loop's state ---------------------------------------------------------


def test_a_failed_write_rolls_back_everything_it_did(store: PoolStore) -> None:
    records = [
        {"task_id": "machine_a", "instruction": "a", "instances": []},
        {"instruction": "no id: the write fails half way"},
    ]
    with pytest.raises(KeyError):
        store.complete(records)
    assert store.completed_count() == 0
    assert not in_transaction(store)


def test_writes_run_inside_one_transaction(store: PoolStore, monkeypatch) -> None:
    seen: list[bool] = []
    original = store._write

    def spying_write():
        manager = original()
        connection = manager.__enter__()
        seen.append(in_transaction(store))
        return _Reentered(manager, connection)

    class _Reentered:
        def __init__(self, manager, connection):
            self.manager, self.connection = manager, connection

        def __enter__(self):
            return self.connection

        def __exit__(self, *exc):
            return self.manager.__exit__(*exc)

    monkeypatch.setattr(store, "_write", spying_write)
    store.increment("rounds")
    store.add_seeds(SEEDS)
    assert seen == [True, True]
    assert store.counters() == {"rounds": 1}


def test_complete_never_stores_more_than_the_limit(store: PoolStore) -> None:
    first = {"task_id": "machine_a", "instruction": "a", "instances": []}
    second = {"task_id": "machine_b", "instruction": "b", "instances": []}
    assert store.complete([first], limit=1) == 1
    assert store.complete([second], limit=1) == 0
    # A replay of a stored task is not a new one: it is stored again (latest write wins).
    assert store.complete([{**first, "instruction": "a2"}], limit=1) == 1
    assert [task["instruction"] for task in store.completed()] == ["a2"]


def test_state_counts_finished_accepted_lost_and_rounds(store: PoolStore) -> None:
    store.add_seeds(SEEDS)
    ids = [accept(store, text, f"c{i}") for i, text in enumerate(["one two", "three", "four"])]
    store.complete([{"task_id": ids[0], "instruction": "one two", "instances": []}])
    store.record_drops(
        [{"candidate_id": "c1", "stage": "instances", "reason": "no_valid_instances"}]
    )
    # A drop before the pool, or of an instance, is not a lost task.
    store.record_drops([{"candidate_id": "c2", "stage": "instance_filters", "reason": "duplicate"}])
    store.increment("rounds", 2)
    state = store.state()
    assert state == PoolState(finished=1, accepted=3, lost=1, rounds=2)
    assert state.in_flight == 1


def test_meta_values_are_set_cleared_and_shared(pool_location: str) -> None:
    with open_pool_store(pool_location) as writer, open_pool_store(pool_location) as reader:
        assert reader.meta("stop_reason") is None
        writer.set_meta("stop_reason", "round limit")
        assert reader.meta("stop_reason") == "round limit"
        writer.set_meta("stop_reason", None)
        assert reader.meta("stop_reason") is None


def test_a_store_killed_before_its_first_commit_is_blank(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.sqlite"  # WAL mode set, schema never committed
    sqlite3.connect(header_only).execute("PRAGMA journal_mode=WAL").close()
    real = tmp_path / "pool.sqlite"
    open_pool_store(real).close()
    foreign = tmp_path / "garbage.sqlite"
    foreign.write_bytes(b"not a database" * 100)
    assert [pool_is_blank(p) for p in (empty, header_only, real, foreign)] == [
        True,
        True,
        False,
        False,
    ]
    assert not pool_is_blank(tmp_path / "missing.sqlite")


def test_opening_a_foreign_file_to_check_it_leaves_it_as_it_was(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.commit()
    connection.close()
    before = foreign.read_bytes()
    with pytest.raises(PoolDamagedError, match="not a task pool"):
        open_pool_store(foreign, create=False)
    assert foreign.read_bytes() == before


# -- both backends: one writer at a time, in seq order -----------------------------------------


def test_concurrent_writers_never_overshoot_the_cap_and_readers_never_skip_a_task(
    pool_location: str,
) -> None:
    race(pool_location)


def race(pool_location: str) -> None:
    """The writers' race, also run by tests/test_pool_postgres.py under another default
    isolation level."""
    # Four writers (a step's replicas on four nodes) race to accept and finish tasks while
    # a reader follows the pool by seq, as SampleDemonstrations and the filters do.
    writers, per_writer, cap = 4, 30, 70
    seen: list[int] = []
    done = threading.Event()

    def write(worker: int) -> None:
        with open_pool_store(pool_location) as store:
            for i in range(per_writer):
                task_id = accept(store, f"Task {i} of writer {worker}.", f"w{worker}c{i}")
                store.complete([{"task_id": task_id, "instances": []}], limit=cap)

    def read() -> None:
        with open_pool_store(pool_location) as store:
            last = 0
            while True:
                finished = done.is_set()
                for task in store.tasks(after_seq=last):
                    seen.append(task["seq"])
                    last = task["seq"]
                if finished:
                    return

    with open_pool_store(pool_location):
        pass  # the schema, before the race
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    reader.join(timeout=60)
    with open_pool_store(pool_location) as store:
        assert store.completed_count() == cap
        assert store.count("machine") == writers * per_writer
        assert seen == [task["seq"] for task in store.tasks()]


def test_embeddings_round_trip_and_keep_the_first_vector(store: PoolStore) -> None:
    first, second = bytes(range(16)), b"\x00" * 16
    store.put_embeddings("minilm", {"t1": first, "t2": second})
    store.put_embeddings("minilm", {"t1": second})  # the same text has the same vector
    assert store.embeddings("minilm", ["t1", "t2", "missing"]) == {"t1": first, "t2": second}
    assert store.embeddings("other", ["t1"]) == {}


def test_a_url_keeps_its_password_out_of_what_is_saved_and_shown() -> None:
    assert split_password("postgresql://u:s3cret@db.example:5433/pool?sslmode=require") == (
        "postgresql://u@db.example:5433/pool?sslmode=require",
        "s3cret",
    )
    assert split_password("postgresql://u@[::1]/pool") == ("postgresql://u@[::1]/pool", None)
    assert split_password("postgresql://u:p@[::1]/pool")[0] == "postgresql://u@[::1]/pool"
    assert split_password("run/pool.sqlite") == ("run/pool.sqlite", None)
    # Percent-encoded, in the query, with several hosts: libpq's other URL forms.
    assert split_password("postgresql://u:p%40ss%3Aw@h/db") == ("postgresql://u@h/db", "p@ss:w")
    assert split_password("postgresql://u@h/db?sslmode=require&password=s3") == (
        "postgresql://u@h/db?sslmode=require",
        "s3",
    )
    assert split_password("postgresql://u:pw@h1:5432,h2:5433/db") == (
        "postgresql://u@h1:5432,h2:5433/db",
        "pw",
    )
    assert is_networked("postgres://h/db") and not is_networked("sqlite:///run/pool.sqlite")


def test_a_sqlite_url_names_the_file(tmp_path: Path) -> None:
    with open_pool_store(f"sqlite:///{tmp_path}/run/pool.sqlite") as store:
        store.increment("n")
    with open_pool_store(tmp_path / "run" / "pool.sqlite", create=False) as store:
        assert store.counters() == {"n": 1}
