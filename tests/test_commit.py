"""CommitToPool: finished tasks go into the pool store once, up to the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.commit import TASK_COLUMNS, CommitToPool, task_record
from distilabel_selfinstruct.pool import open_pool_store, task_id_for

pytestmark = pytest.mark.usefixtures("isolated_env")


def finished(instruction: str, **extra) -> dict:
    row = {
        "task_id": task_id_for(instruction),
        "candidate_id": f"cand-{instruction}",
        "instruction": instruction,
        "is_classification": False,
        "classification_score": 0.1,
        "instances": [{"input": "", "output": f"Answer to {instruction}"}],
        "labels": [],
        "rouge_l_max": 0.3,
        "most_similar_task_id": "seed_task_1",
        "most_similar_instruction": "A seed.",
        "bootstrap_round": 1,
        "model_name": "scripted",
        "distilabel_metadata": {"raw_output": "..."},
    }
    row.update(extra)
    return row


def make_step(pool_path: Path, num_instructions: int = 100) -> CommitToPool:
    step = CommitToPool(
        run=BootstrapRun(pool_path=str(pool_path), num_instructions=num_instructions)
    )
    step.load()
    return step


def test_task_record_keeps_only_the_task_columns() -> None:
    record = task_record(finished("Name a river."))
    assert list(record) == list(TASK_COLUMNS)
    assert record["instruction"] == "Name a river."
    assert task_record({"task_id": "x"})["instances"] is None


def test_stores_finished_tasks_and_passes_them_on(pool_path: Path) -> None:
    step = make_step(pool_path)
    rows = [finished("Name a river."), finished("Name a mountain.")]
    out = next(step.process(rows))
    assert [row["task_id"] for row in out] == [row["task_id"] for row in rows]
    # Only the task's own columns go on, so the final dataset has one schema whether or not
    # a row was resumed from the pool store.
    assert out == [task_record(row) for row in rows]
    assert "distilabel_metadata" not in out[0]
    with open_pool_store(pool_path) as store:
        stored = store.completed()
    assert stored == [task_record(row) for row in rows]
    assert "distilabel_metadata" not in stored[0]


def test_caps_at_num_instructions(pool_path: Path) -> None:
    step = make_step(pool_path, num_instructions=2)
    first = next(
        step.process([finished("Task one."), finished("Task two."), finished("Task three.")])
    )
    assert [row["instruction"] for row in first] == ["Task one.", "Task two."]
    assert step.drop_counts == {"target_reached": 1}
    second = next(step.process([finished("Task four.")]))
    assert second == []
    step.unload()
    with open_pool_store(pool_path) as store:
        assert store.completed_count() == 2
        assert store.drop_counts() == {("commit", "target_reached"): 2}
        assert {d["candidate_id"] for d in store.drops()} == {"cand-Task three.", "cand-Task four."}


def test_replays_dont_duplicate(pool_path: Path) -> None:
    rows = [finished("Task one."), finished("Task two.")]
    step = make_step(pool_path, num_instructions=2)
    next(step.process(rows))
    step.unload()
    # A restarted step gets the same batch again, now with new instances for one task.
    again = make_step(pool_path, num_instructions=2)
    rows[1] = finished("Task two.", instances=[{"input": "x", "output": "y"}])
    out = next(again.process(rows))
    # At the target, a replayed task still passes (it is not a new one).
    assert [row["instruction"] for row in out] == ["Task one.", "Task two."]
    assert not again.drop_counts
    with open_pool_store(pool_path) as store:
        stored = store.completed()
    assert [r["instruction"] for r in stored] == ["Task one.", "Task two."]
    assert stored[1]["instances"] == [{"input": "x", "output": "y"}]


def test_duplicate_rows_within_a_batch_are_stored_once(pool_path: Path) -> None:
    step = make_step(pool_path, num_instructions=5)
    next(step.process([finished("Task one."), finished("Task one.")]))
    with open_pool_store(pool_path) as store:
        assert store.completed_count() == 1
