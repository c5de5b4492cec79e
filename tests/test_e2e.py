"""End-to-end: the whole bootstrap on the real default model (a few minutes on 2 cores)."""

from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from distilabel_selfinstruct.bootstrap.stages import POST_ACCEPT_STAGES
from distilabel_selfinstruct.cli import main
from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store

pytestmark = pytest.mark.e2e

# Six tasks: enough for a pool of machine tasks to compare (ten took 414 s of CI's 2 cores).
TARGET = 6


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("e2e") / "run"
    yaml_path = output.parent / "pipeline.yaml"
    code = main(
        [
            "generate",
            "--num-instructions",
            str(TARGET),
            "--output",
            str(output),
            "--save-yaml",
            str(yaml_path),
        ]
    )
    assert code == 0
    return output


@pytest.mark.timeout(1200)  # sets up run_dir: 10 tasks took 414-549 s in CI
def test_the_pool_grows_to_the_target_with_instances(run_dir: Path) -> None:
    with open_pool_store(pool_path_for(run_dir)) as store:
        finished = store.completed()
    assert len(finished) == TARGET
    assert len({task["task_id"] for task in finished}) == TARGET
    for task in finished:
        assert task["instances"], task
        assert all(instance["output"].strip() for instance in task["instances"])
        if task["is_classification"]:
            assert {i["output"] for i in task["instances"]} <= set(task["labels"])
            assert len(set(task["labels"])) >= 2


@pytest.mark.timeout(1200)  # run_dir, when run alone
def test_no_two_accepted_instructions_are_too_similar(run_dir: Path) -> None:
    with open_pool_store(pool_path_for(run_dir)) as store:
        pool = [task["instruction"] for task in store.tasks()]
        machine = [task["instruction"] for task in store.tasks(origin="machine")]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    seeds = pool[: len(pool) - len(machine)]
    for i, text in enumerate(machine):
        for other in seeds + machine[:i]:
            assert scorer.score(other, text)["rougeL"].fmeasure <= 0.7, (text, other)


@pytest.mark.timeout(1200)  # run_dir, when run alone
def test_every_candidate_is_accounted_for(run_dir: Path) -> None:
    with open_pool_store(pool_path_for(run_dir)) as store:
        drops = store.drops()
        accepted = store.count("machine")
        finished = store.completed_count()
    assert all(drop["reason"] and drop["stage"] for drop in drops)
    lost = [d for d in drops if d["stage"] in {str(stage) for stage in POST_ACCEPT_STAGES}]
    # Every accepted instruction either finished or was dropped later with a reason.
    assert accepted == finished + len(lost)


@pytest.mark.timeout(1200)  # run_dir, when run alone
def test_exports_and_summary_are_written(run_dir: Path) -> None:
    import json

    lines = (run_dir / "self_instruct.jsonl").read_text().splitlines()
    assert len(lines) == TARGET
    record = json.loads(lines[0])
    assert {"id", "name", "instruction", "instances", "is_classification"} <= set(record)
    alpaca = json.loads((run_dir / "alpaca.json").read_text())
    assert len(alpaca) == sum(len(json.loads(line)["instances"]) for line in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["tasks_finished"] == TARGET
    assert summary["instructions_generated"] >= summary["instructions_accepted"] >= TARGET


@pytest.mark.timeout(1500)  # run_dir when run alone, then the rerun
def test_the_saved_yaml_reruns_on_the_real_model(run_dir: Path) -> None:
    from distilabel.pipeline import Pipeline

    restored = Pipeline.from_yaml(run_dir.parent / "pipeline.yaml")
    # Same run directory: the pool is already at the target, so the rerun only confirms it.
    restored.run(use_cache=False)
    with open_pool_store(pool_path_for(run_dir)) as store:
        assert store.completed_count() == TARGET
