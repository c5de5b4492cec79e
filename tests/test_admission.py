"""AdmitToPool: the loop's single writer of accepted tasks, behind the stop rule's gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.pool import open_pool_store, task_id_for
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks

pytestmark = pytest.mark.usefixtures("isolated_env")

NOVEL = "Write a limerick about a cat who learns to play the trombone."
NOVEL_VARIANT = "Write a limerick about a dog who learns to play the trombone."
OTHERS = [
    "Name three rivers that flow through Germany.",
    "Suggest a weekly budget plan for a college student.",
    "Explain how vaccines train the immune system.",
    "Convert the following recipe from cups to grams.",
    "Recommend a board game for four players who like strategy.",
]


@pytest.fixture
def pool(pool_path: Path) -> Path:
    with open_pool_store(pool_path) as store:
        store.add_seeds(load_seed_tasks([bundled_seed_path()]))
    return pool_path


def seq_of(pool: Path) -> int:
    with open_pool_store(pool) as store:
        return store.tasks()[-1]["seq"]


def scored(text: str, candidate_id: str, pool_seq: int, score: float = 0.2) -> dict:
    return {
        "instruction": text,
        "candidate_id": candidate_id,
        "bootstrap_round": 3,
        "task_id": task_id_for(text),
        "rouge_l_max": score,
        "most_similar_task_id": "seed_task_0",
        "most_similar_instruction": "a seed",
        "rouge_l_pool_seq": pool_seq,
    }


def make_step(pool: Path, **run_settings) -> AdmitToPool:
    step = AdmitToPool(run=BootstrapRun(pool_path=str(pool), **run_settings))
    step.load()
    return step


def admit(step: AdmitToPool, rows: list[dict]) -> list[dict]:
    return next(step.process(rows))


def test_admits_novel_candidates_into_the_pool(pool: Path) -> None:
    step = make_step(pool)
    (row,) = admit(step, [scored(NOVEL, "c1", seq_of(pool))])
    assert row["task_id"] == task_id_for(NOVEL)
    with open_pool_store(pool) as store:
        assert store.accepted_candidate("c1") == {
            "task_id": task_id_for(NOVEL),
            "rouge_l_max": 0.2,
            "most_similar_task_id": "seed_task_0",
        }
        (machine,) = store.tasks(origin="machine")
        assert machine["bootstrap_round"] == 3


def test_checks_what_was_admitted_after_the_candidate_was_scored(pool: Path) -> None:
    # Both were scored against the same pool; the second is a near copy of the first.
    seq = seq_of(pool)
    step = make_step(pool)
    rows = admit(step, [scored(NOVEL, "c1", seq), scored(NOVEL_VARIANT, "c2", seq)])
    assert [row["candidate_id"] for row in rows] == ["c1"]
    with open_pool_store(pool) as store:
        (drop,) = store.drops()
    assert (drop["candidate_id"], drop["stage"], drop["reason"]) == (
        "c2",
        "rouge_l",
        "rouge_l_too_similar",
    )
    assert drop["score"] > 0.7


def test_a_replayed_candidate_passes_without_the_gate(pool: Path) -> None:
    seq = seq_of(pool)
    step = make_step(pool, num_instructions=1)
    assert admit(step, [scored(NOVEL, "c1", seq)])
    with open_pool_store(pool) as store:
        store.complete([{"task_id": task_id_for(NOVEL), "instruction": NOVEL, "instances": []}])
    # The target is met, yet the replay of an accepted task still goes through.
    (again,) = admit(step, [scored(NOVEL, "c1", seq)])
    assert again["candidate_id"] == "c1"
    assert admit(step, [scored(OTHERS[0], "c2", seq)]) == []
    assert step.drop_counts == {"target_reached": 1}


def test_the_gate_stops_admitting_what_the_run_cannot_use(pool: Path) -> None:
    # Target 2, margin 1.25: with the 0.8 prior, 4 in flight are expected to finish 3.2 >= 2.5.
    step = make_step(pool, num_instructions=2)
    rows = admit(step, [scored(text, f"c{i}", seq_of(pool)) for i, text in enumerate(OTHERS)])
    assert [row["candidate_id"] for row in rows] == ["c0", "c1", "c2", "c3"]
    assert step.drop_counts == {"enough_in_flight": 1}
    with open_pool_store(pool) as store:
        # Once accepted tasks are lost downstream the expectation drops: admitted again.
        store.record_drops(
            [
                {"candidate_id": f"c{i}", "stage": "instances", "reason": "no_valid_instances"}
                for i in range(4)
            ]
        )
    late = "Outline a plan to learn touch typing in a month."
    assert admit(step, [scored(late, "c9", seq_of(pool))])


def test_rows_scored_without_the_pool_are_refused(pool: Path) -> None:
    step = make_step(pool)
    row = {**scored(NOVEL, "c1", 0), "rouge_l_pool_seq": None}
    with pytest.raises(ValueError, match="RougeLFilter before it the same `run`"):
        admit(step, [row])


def test_the_same_text_under_another_candidate_is_a_duplicate(pool: Path) -> None:
    step = make_step(pool, rouge_threshold=1.0)
    seq = seq_of(pool)
    admit(step, [scored(NOVEL, "c1", seq)])
    assert admit(step, [scored(NOVEL, "c2", seq_of(pool))]) == []
    assert step.drop_counts == {"duplicate_instruction": 1}
