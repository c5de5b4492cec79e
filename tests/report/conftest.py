"""A small hand-made run directory whose report numbers are worked out by hand.

Two seeds; round 0 had 4 candidates (2 accepted, 2 dropped), round 1 had 3 (2 accepted, 1
dropped) and one unparseable reply; 3 of the 4 accepted tasks finished, one of them a
classification task. The answers are in tests/report/test_statistics.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.seeds import Instance, SeedTask
from distilabel_selfinstruct.usage import CALLS, COMPLETION_TOKENS, PROMPT_TOKENS, counter_name

SEEDS = ("Name three colors.", "Is this email spam?")
ACCEPTED = (  # (instruction, round)
    ("Write a short story about a dragon.", 0),
    ("Give me a list of fruits.", 0),
    ("Classify the sentiment of the review.", 1),
    ("Name three colors of the rainbow.", 1),
)
FINISHED = (
    (0, False, [], [("", "Once upon a time there was a dragon."), ("A red dragon", "It flew away.")]),
    (1, False, [], [("", "Apples, pears.")]),
    (2, True, ["Positive", "Negative"], [("I love it", "Positive"), ("Great", "Positive"), ("Awful", "Negative")]),
)  # fmt: skip
DROPS = (  # (candidate, stage, reason, round)
    ("d0", "instruction_filters", "too_short", 0),
    ("d1", "rouge_l", "rouge_l_too_similar", 0),
    ("d2", "admission", "enough_in_flight", 1),
    ("g0", "generation", "unparseable_reply", 1),
)
USAGE = {  # step -> (calls, prompt tokens, completion tokens)
    "generate_instructions": (4, 1000, 200),
    "generate_instances": (3, 600, 300),
}


def make_run(run_dir: Path, model: str = "scripted") -> Path:
    with open_pool_store(pool_path_for(run_dir)) as store:
        store.add_seeds(
            [
                SeedTask("seed_task_0", "colors", SEEDS[0], (Instance("", "Red, green, blue."),)),
                SeedTask("seed_task_1", "spam", SEEDS[1], (Instance("Win $$$", "Yes"),), True),
            ]
        )
        ids = [
            store.accept(
                candidate_id=f"c{i}",
                instruction=text,
                bootstrap_round=round_,
                rouge_l_max=0.1 * (i + 1),
                most_similar_task_id="seed_task_0",
            )
            for i, (text, round_) in enumerate(ACCEPTED)
        ]
        store.record_drops(
            [
                {"candidate_id": c, "stage": s, "reason": r, "bootstrap_round": n}
                for c, s, r, n in DROPS
            ]
        )
        store.increment_many(
            {
                counter_name(kind, step): value
                for step, values in USAGE.items()
                for kind, value in zip(
                    (CALLS, PROMPT_TOKENS, COMPLETION_TOKENS), values, strict=True
                )
            }
        )
        store.complete(
            [
                {
                    "task_id": ids[i],
                    "instruction": ACCEPTED[i][0],
                    "is_classification": is_classification,
                    "labels": labels,
                    "instances": [{"input": a, "output": b} for a, b in instances],
                    "bootstrap_round": ACCEPTED[i][1],
                    "model_name": model,
                }
                for i, is_classification, labels, instances in FINISHED
            ]
        )
    return run_dir


@pytest.fixture
def hand_run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")
