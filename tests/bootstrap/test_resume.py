"""A resumed task (admitted by a killed run, not finished) re-enters after admission: no
candidate filter sees it again, whatever the rerun's heuristics, so it is never counted both
as accepted and as dropped at a candidate stage (and "in flight" for ever)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stages import CANDIDATE_STAGES
from distilabel_selfinstruct.filters.instruction_filters import FilterInstructions
from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.instructions import SplitInstructions
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks

pytestmark = pytest.mark.usefixtures("isolated_env")

ADMITTED = "Compose a short poem about the sea at night, using the word lighthouse."
NEW = "Name three rivers that flow through Germany and say which is the longest."


def loaded(step: Any) -> Any:
    step.load()
    return step


def through(step: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return next(step.process_applying_mappings(rows))


@pytest.mark.parametrize(
    "rerun_filter",
    [
        {"blacklist": ["lighthouse"]},  # a word the first run allowed
        {"max_words": 8},  # a length the first run allowed
    ],
    ids=["a new blacklist word", "a tighter length check"],
)
def test_a_resumed_task_passes_no_candidate_filter_again(
    pool_path: Path, rerun_filter: dict[str, Any]
) -> None:
    with open_pool_store(pool_path) as store:
        store.add_seeds(load_seed_tasks([bundled_seed_path()]))
        task_id = store.accept(
            candidate_id="killed-run-candidate",
            instruction=ADMITTED,
            bootstrap_round=0,
            rouge_l_max=0.1,
            most_similar_task_id=None,
        )
        assert task_id is not None
    run = BootstrapRun(pool_path=str(pool_path), num_instructions=5)
    steps = [
        loaded(SplitInstructions(run=run)),
        loaded(FilterInstructions(run=run, **rerun_filter)),
        loaded(RougeLFilter(run=run)),
        loaded(AdmitToPool(run=run)),
    ]
    rows: list[dict[str, Any]] = [
        {"prompt_id": "round-1-prompt-0", "bootstrap_round": 1, "instructions": [NEW]}
    ]
    for step in steps:
        rows = through(step, rows)
    resumed = [row for row in rows if row["candidate_id"] == "killed-run-candidate"]
    assert len(resumed) == 1 and resumed[0]["task_id"] == task_id
    with open_pool_store(pool_path) as store:
        candidate_drops = [
            drop
            for drop in store.drops()
            if drop["candidate_id"] == "killed-run-candidate"
            and drop["stage"] in {str(stage) for stage in CANDIDATE_STAGES}
        ]
        assert candidate_drops == []
        assert [task["task_id"] for task in store.unfinished_tasks()][:1] == [task_id]
