"""RunSummary numbers from a hand-made pool store."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.pool import PoolDamagedError, open_pool_store
from distilabel_selfinstruct.seeds import Instance, SeedTask
from distilabel_selfinstruct.summary import RunSummary


@pytest.fixture
def run_store(pool_path: Path) -> Path:
    """Two seeds; 6 parsed candidates of which 3 were accepted and 2 finished."""
    with open_pool_store(pool_path) as store:
        store.add_seeds(
            [
                SeedTask("seed_task_0", "a", "Name three colors.", (Instance("", "Red."),)),
                SeedTask("seed_task_1", "b", "Is it spam?", (Instance("x", "Spam"),), True),
            ]
        )
        ids = [
            store.accept(
                candidate_id=f"c{i}",
                instruction=f"Machine task {i}.",
                bootstrap_round=0,
                rouge_l_max=0.2,
                most_similar_task_id="seed_task_0",
            )
            for i in range(3)
        ]
        drops = [
            ("g0", "generation", "unparseable_reply"),
            ("c3", "instruction_filters", "too_short"),
            ("c4", "instruction_filters", "too_short"),
            ("c5", "rouge_l", "rouge_l_too_similar"),
            (f"{ids[0]}#2", "instance_filters", "duplicate"),
            ("c2", "instances", "no_valid_instances"),
        ]
        store.record_drops([{"candidate_id": c, "stage": s, "reason": r} for c, s, r in drops])
        store.increment("instruction_prompts", 4)
        store.complete(
            [
                {
                    "task_id": ids[0],
                    "instruction": "Machine task 0.",
                    "is_classification": True,
                    "instances": [
                        {"input": "good", "output": "Positive"},
                        {"input": "great", "output": "Positive"},
                        {"input": "bad", "output": "Negative"},
                    ],
                },
                {
                    "task_id": ids[1],
                    "instruction": "Machine task 1.",
                    "is_classification": False,
                    "instances": [{"input": "", "output": "A poem."}],
                },
            ]
        )
    return pool_path


def test_from_store_numbers(run_store: Path) -> None:
    summary = RunSummary.from_store(run_store, target=5, wall_time_s=120.0)
    assert summary.instructions_generated == 6  # 3 accepted + 3 instruction-level drops
    assert summary.instructions_accepted == 3
    assert summary.tasks_finished == 2
    assert summary.target == 5
    assert summary.drops == {
        "generation/unparseable_reply": 1,
        "instance_filters/duplicate": 1,
        "instances/no_valid_instances": 1,
        "instruction_filters/too_short": 2,
        "rouge_l/rouge_l_too_similar": 1,
    }
    assert summary.classification_share == 0.5
    assert summary.instances_per_task == 2.0
    assert summary.label_distribution == {"Positive": 2, "Negative": 1}
    assert summary.llm_calls == 4 + 2 * 3
    assert summary.llm_calls_per_finished_task == 5.0
    assert summary.wall_time_s == 120.0
    assert summary.instructions_per_minute == 1.0


def test_to_dict_and_render(run_store: Path) -> None:
    summary = RunSummary.from_store(run_store, target=5, wall_time_s=120.0)
    assert summary.to_dict()["drops"]["instruction_filters/too_short"] == 2
    text = summary.render()
    assert "instructions generated : 6" in text
    assert "finished with instances: 2 (target 5)" in text
    assert "classification share   : 50%" in text
    assert "LLM calls              : 10 (5.0 per finished task)" in text
    assert "finished tasks / minute: 1.00" in text
    assert "rouge_l/rouge_l_too_similar" in text
    assert "labels: Positive=2, Negative=1" in text


def test_empty_store(pool_path: Path) -> None:
    open_pool_store(pool_path).close()
    summary = RunSummary.from_store(pool_path)
    assert summary.tasks_finished == 0 and summary.instructions_generated == 0
    assert summary.classification_share == 0.0 and summary.instances_per_task == 0.0
    assert summary.llm_calls_per_finished_task is None
    assert summary.instructions_per_minute is None
    text = summary.render()
    assert "wall time" not in text and "(target" not in text


def test_a_missing_store_is_not_summarized_as_empty(pool_path: Path) -> None:
    with pytest.raises(PoolDamagedError, match="no such file"):
        RunSummary.from_store(pool_path)
    assert not pool_path.exists()  # and none was created


def test_accepted_tasks_add_up_to_finished_lost_and_unfinished(pool_path: Path) -> None:
    with open_pool_store(pool_path) as store:
        ids = [
            store.accept(
                candidate_id=f"c{i}",
                instruction=f"Task number {i} about a different subject entirely.",
                bootstrap_round=0,
                rouge_l_max=0.1,
                most_similar_task_id=None,
            )
            for i in range(5)
        ]
        store.complete([{"task_id": ids[0], "instruction": "x", "instances": []}])
        store.record_drops(
            [{"candidate_id": "c1", "stage": "instances", "reason": "no_valid_instances"}]
        )
    summary = RunSummary.from_store(pool_path)
    assert (summary.instructions_accepted, summary.tasks_finished) == (5, 1)
    assert (summary.tasks_lost, summary.tasks_unfinished) == (1, 3)
    assert "lost / unfinished      : 1 / 3" in summary.render()


def test_rouge_l_histogram_bins_scores_by_tenths() -> None:
    from distilabel_selfinstruct.summary import rouge_l_histogram

    histogram = rouge_l_histogram([0.0, 0.05, 0.1, 0.35, 0.7, 1.0])
    assert len(histogram) == 10
    assert histogram["0.0-0.1"] == 2
    assert histogram["0.1-0.2"] == 1
    assert histogram["0.3-0.4"] == 1
    assert histogram["0.7-0.8"] == 1
    assert histogram["0.9-1.0"] == 1  # a score of exactly 1.0 lands in the last bin
    assert sum(histogram.values()) == 6
