"""The RougeLFilter step: novelty against a reference set or the run's pool store.

(The ROUGE-L kernel itself is tested in test_rouge_index.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.pool import open_pool_store, task_id_for
from distilabel_selfinstruct.seeds import SeedTask, bundled_seed_path, load_seed_tasks

pytestmark = pytest.mark.usefixtures("isolated_env")

SCORER = rouge_scorer.RougeScorer(["rougeL"])
NOVEL = "Explain how a heat pump moves heat out of a cold house."
NOVEL_VARIANT = "Explain how a heat pump moves heat into a cold house."
OTHER_NOVEL = "Describe the life cycle of a monarch butterfly in four stages."


@pytest.fixture(scope="module")
def seeds() -> list[SeedTask]:
    return load_seed_tasks(bundled_seed_path())


def near_copy(seed: SeedTask) -> str:
    # One extra word: ROUGE-L F = 2n / (2n + 1) for an n-token seed, far above 0.7.
    return seed.instruction.rstrip(".?!") + " quickly."


def rouge(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


def make_step(**kwargs) -> RougeLFilter:
    step = RougeLFilter(**kwargs)
    step.load()
    return step


def run(step: RougeLFilter, rows: list[dict]) -> list[dict]:
    return next(step.process(rows))


def reference_step(**kwargs) -> RougeLFilter:
    return make_step(reference_path=[str(bundled_seed_path())], **kwargs)


def test_drops_a_near_copy_of_a_seed_and_accepts_a_novel_one(seeds: list[SeedTask]) -> None:
    step = reference_step()
    copy = near_copy(seeds[5])
    out = run(
        step,
        [{"instruction": copy, "candidate_id": "a"}, {"instruction": NOVEL, "candidate_id": "b"}],
    )
    assert [row["candidate_id"] for row in out] == ["b"]
    assert step.drop_counts == {"rouge_l_too_similar": 1}
    (row,) = out
    assert row["task_id"] == task_id_for(NOVEL)
    assert row["rouge_l_reason"] is None
    assert 0.0 < row["rouge_l_max"] <= 0.7
    best = max(seeds, key=lambda seed: rouge(seed.instruction, NOVEL))
    assert row["rouge_l_max"] == pytest.approx(rouge(best.instruction, NOVEL), abs=1e-12)
    assert rouge(row["most_similar_instruction"], NOVEL) == pytest.approx(row["rouge_l_max"])
    ids = {seed.id: seed.instruction for seed in seeds}
    assert ids[row["most_similar_task_id"]] == row["most_similar_instruction"]


def test_keep_rejected_records_the_most_similar_seed(seeds: list[SeedTask]) -> None:
    step = reference_step(keep_rejected=True)
    copy = near_copy(seeds[5])
    (row,) = run(step, [{"instruction": copy}])
    assert row["rouge_l_reason"] == "rouge_l_too_similar"
    assert row["most_similar_task_id"] == seeds[5].id
    assert row["most_similar_instruction"] == seeds[5].instruction
    assert row["rouge_l_max"] == pytest.approx(rouge(seeds[5].instruction, copy), abs=1e-12)


def test_later_rows_are_compared_with_earlier_accepted_rows_of_the_same_batch() -> None:
    step = reference_step()
    out = run(
        step, [{"instruction": NOVEL}, {"instruction": NOVEL_VARIANT}, {"instruction": OTHER_NOVEL}]
    )
    assert [row["instruction"] for row in out] == [NOVEL, OTHER_NOVEL]
    # And with the next batch too.
    out = run(step, [{"instruction": NOVEL_VARIANT}])
    assert out == []
    kept = reference_step(keep_rejected=True)
    rows = run(kept, [{"instruction": NOVEL}, {"instruction": NOVEL_VARIANT}])
    assert rows[1]["most_similar_task_id"] == task_id_for(NOVEL)
    assert rows[1]["most_similar_instruction"] == NOVEL
    assert rows[1]["rouge_l_max"] == pytest.approx(rouge(NOVEL, NOVEL_VARIANT), abs=1e-12)


def test_decisions_agree_with_rouge_score(seeds: list[SeedTask]) -> None:
    candidates = [
        near_copy(seeds[0]),
        NOVEL,
        NOVEL_VARIANT,
        "Compose a haiku about the first snow of winter.",
        OTHER_NOVEL,
        "Describe the life cycle of a monarch butterfly in three stages.",
        "Give three tips for keeping houseplants alive in winter.",
        "Give three tips for keeping cut flowers fresh in summer.",
        seeds[10].instruction,
        "Write a short poem.",
        "写一首关于大海的诗。",
        "写一首关于大海的诗。",
    ]
    step = reference_step(keep_rejected=True)
    out = run(step, [{"instruction": text} for text in candidates])
    pool = [seed.instruction for seed in seeds]
    decisions = []
    for text, row in zip(candidates, out, strict=True):
        expected = max(rouge(reference, text) for reference in pool)
        assert row["rouge_l_max"] == pytest.approx(expected, abs=1e-12), text
        too_similar = expected > 0.7
        assert (row["rouge_l_reason"] == "rouge_l_too_similar") is too_similar, text
        decisions.append(too_similar)
        if not too_similar:
            pool.append(text)
    # The set exercises both outcomes.
    assert any(decisions) and not all(decisions)


@pytest.mark.parametrize(("threshold", "kept"), [(0.7, False), (0.95, True)])
def test_threshold(seeds: list[SeedTask], threshold: float, kept: bool) -> None:
    step = reference_step(threshold=threshold)
    assert bool(run(step, [{"instruction": near_copy(seeds[5])}])) is kept


def test_without_any_pool_everything_new_is_accepted() -> None:
    step = make_step()
    out = run(step, [{"instruction": NOVEL}, {"instruction": OTHER_NOVEL}])
    assert out[0]["most_similar_task_id"] is None
    assert out[0]["most_similar_instruction"] is None
    assert out[0]["rouge_l_max"] == 0.0
    assert len(out) == 2


def test_instruction_column() -> None:
    step = reference_step(instruction_column="text")
    assert step.inputs == ["text"]
    out = run(step, [{"text": NOVEL}, {"text": NOVEL_VARIANT}])
    assert [row["text"] for row in out] == [NOVEL]


# -- with the run's pool store (scoring only; AdmitToPool writes) ---------------------------


@pytest.fixture
def seeded_pool(pool_path: Path, seeds: list[SeedTask]) -> Path:
    with open_pool_store(pool_path) as store:
        store.add_seeds(seeds)
    return pool_path


def candidate(text: str, candidate_id: str, bootstrap_round: int = 2) -> dict:
    return {"instruction": text, "candidate_id": candidate_id, "bootstrap_round": bootstrap_round}


def loop_step(pool: Path, **kwargs) -> RougeLFilter:
    return make_step(run=BootstrapRun(pool_path=str(pool)), **kwargs)


def test_scores_against_the_store_without_writing_it(
    seeded_pool: Path, seeds: list[SeedTask]
) -> None:
    step = loop_step(seeded_pool)
    out = run(
        step,
        [
            candidate(NOVEL, "c1"),
            candidate(near_copy(seeds[5]), "c2"),
            candidate(NOVEL_VARIANT, "c3"),
        ],
    )
    step.unload()
    # The variant is only too similar to c1, which is not in the pool yet: that check is
    # AdmitToPool's, against what was admitted after scoring.
    assert [row["candidate_id"] for row in out] == ["c1", "c3"]
    assert {row["rouge_l_pool_seq"] for row in out} == {len(seeds)}
    with open_pool_store(seeded_pool) as store:
        assert store.count("machine") == 0
        assert store.drop_counts() == {("rouge_l", "rouge_l_too_similar"): 1}
        assert store.drops()[0]["candidate_id"] == "c2"


def test_replayed_candidate_passes_with_its_recorded_score(seeded_pool: Path) -> None:
    with open_pool_store(seeded_pool) as store:
        task_id = store.accept(
            candidate_id="c1",
            instruction=NOVEL,
            bootstrap_round=1,
            rouge_l_max=0.25,
            most_similar_task_id="seed_task_0",
        )
    step = loop_step(seeded_pool)
    # A restarted run replays the task (SplitInstructions marks it, with its recorded
    # score): it is in the pool already, as itself, and is not scored again.
    resumed = {
        **candidate(NOVEL, "c1"),
        "resumed": True,
        "task_id": task_id,
        "rouge_l_max": 0.25,
        "most_similar_task_id": "seed_task_0",
        "most_similar_instruction": "the seed's text",
    }
    (replayed,) = run(step, [resumed])
    assert replayed["task_id"] == task_id
    assert replayed["rouge_l_max"] == 0.25
    assert replayed["most_similar_task_id"] == "seed_task_0"
    assert replayed["most_similar_instruction"] == "the seed's text"
    assert replayed.get("rouge_l_reason") is None
    assert not step.drop_counts
    # The same text under another candidate id is a copy of a pool task.
    assert run(step, [candidate(NOVEL, "c9")]) == []
    assert step.drop_counts == {"rouge_l_too_similar": 1}


def test_tasks_admitted_elsewhere_are_read_before_each_batch(seeded_pool: Path) -> None:
    step = loop_step(seeded_pool)
    assert run(step, [candidate(OTHER_NOVEL, "c0")])
    with open_pool_store(seeded_pool) as store:
        store.accept(
            candidate_id="elsewhere",
            instruction=NOVEL,
            bootstrap_round=1,
            rouge_l_max=0.3,
            most_similar_task_id=None,
        )
    assert run(step, [candidate(NOVEL_VARIANT, "c1")]) == []


def test_the_runs_threshold_applies_in_the_loop(seeded_pool: Path) -> None:
    step = make_step(run=BootstrapRun(pool_path=str(seeded_pool), rouge_threshold=0.99))
    with open_pool_store(seeded_pool) as store:
        store.accept(
            candidate_id="c0",
            instruction=NOVEL,
            bootstrap_round=1,
            rouge_l_max=0.3,
            most_similar_task_id=None,
        )
    (row,) = run(step, [candidate(NOVEL_VARIANT, "c1")])
    assert 0.7 < row["rouge_l_max"] <= 0.99
