"""The RougeLFilter step: novelty against a reference set or the run's pool store.

(The ROUGE-L kernel itself is tested in test_rouge_index.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.pool import PoolStore, task_id_for
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
    return make_step(reference_path=str(bundled_seed_path()), **kwargs)


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


# -- with the pool store ---------------------------------------------------------------------


@pytest.fixture
def seeded_pool(pool_path: Path, seeds: list[SeedTask]) -> Path:
    with PoolStore(pool_path) as store:
        store.add_seeds(seeds)
    return pool_path


def candidate(text: str, candidate_id: str, bootstrap_round: int = 2) -> dict:
    return {"instruction": text, "candidate_id": candidate_id, "bootstrap_round": bootstrap_round}


def test_pool_store_gets_accepted_rows_and_drops(seeded_pool: Path, seeds: list[SeedTask]) -> None:
    step = make_step(pool_path=str(seeded_pool))
    out = run(
        step,
        [
            candidate(NOVEL, "c1"),
            candidate(near_copy(seeds[5]), "c2"),
            candidate(NOVEL_VARIANT, "c3"),
        ],
    )
    step.unload()
    assert [row["candidate_id"] for row in out] == ["c1"]
    with PoolStore(seeded_pool) as store:
        (machine,) = store.tasks(origin="machine")
        assert machine["task_id"] == out[0]["task_id"] == task_id_for(NOVEL)
        assert machine["instruction"] == NOVEL and machine["bootstrap_round"] == 2
        assert store.accepted_candidate("c1") == {
            "task_id": task_id_for(NOVEL),
            "rouge_l_max": out[0]["rouge_l_max"],
            "most_similar_task_id": out[0]["most_similar_task_id"],
        }
        assert store.drop_counts() == {("rouge_l", "rouge_l_too_similar"): 2}
        drops = {d["candidate_id"]: d for d in store.drops()}
        assert drops["c3"]["score"] == pytest.approx(rouge(NOVEL, NOVEL_VARIANT))
        assert drops["c3"]["text"] == NOVEL_VARIANT


def test_replayed_candidate_passes_with_its_recorded_score(seeded_pool: Path) -> None:
    first = make_step(pool_path=str(seeded_pool))
    (accepted,) = run(first, [candidate(NOVEL, "c1")])
    first.unload()
    # A restarted step replays the same batch: the candidate is in the pool already.
    again = make_step(pool_path=str(seeded_pool))
    (replayed,) = run(again, [candidate(NOVEL, "c1")])
    for key in ("task_id", "rouge_l_max", "most_similar_task_id", "most_similar_instruction"):
        assert replayed[key] == accepted[key], key
    assert replayed["rouge_l_reason"] is None
    assert not again.drop_counts
    # The same text under another candidate id is a duplicate.
    assert run(again, [candidate(NOVEL, "c9")]) == []
    assert again.drop_counts == {"rouge_l_too_similar": 1}
    with PoolStore(seeded_pool) as store:
        assert store.count("machine") == 1


def test_tasks_accepted_elsewhere_are_read_before_each_batch(seeded_pool: Path) -> None:
    step = make_step(pool_path=str(seeded_pool))
    assert run(step, [candidate(OTHER_NOVEL, "c0")])
    with PoolStore(seeded_pool) as store:  # e.g. another replica of the step
        store.accept(
            candidate_id="elsewhere",
            instruction=NOVEL,
            bootstrap_round=1,
            rouge_l_max=0.3,
            most_similar_task_id=None,
        )
    assert run(step, [candidate(NOVEL_VARIANT, "c1")]) == []


def test_max_pool_size_gives_target_reached(seeded_pool: Path) -> None:
    step = make_step(pool_path=str(seeded_pool), max_pool_size=1, keep_rejected=True)
    rows = run(step, [candidate(NOVEL, "c1"), candidate(OTHER_NOVEL, "c2")])
    assert [row["rouge_l_reason"] for row in rows] == [None, "target_reached"]
    step.unload()
    with PoolStore(seeded_pool) as store:
        assert store.count("machine") == 1
        assert store.drop_counts() == {("rouge_l", "target_reached"): 1}
    # A new step sees the full pool at once; a too-similar row keeps its own reason.
    step = make_step(pool_path=str(seeded_pool), max_pool_size=1, keep_rejected=True)
    rows = run(
        step,
        [
            candidate("Give three tips for keeping houseplants alive.", "c3"),
            candidate(NOVEL_VARIANT, "c4"),
        ],
    )
    assert [row["rouge_l_reason"] for row in rows] == ["target_reached", "rouge_l_too_similar"]


def test_enough_in_flight_stops_accepting_what_the_run_cannot_use(seeded_pool: Path) -> None:
    # Target 2, margin 1.5: with the 0.8 prior, 4 tasks in flight are expected to finish 3.2
    # >= 3, so the 5th novel candidate is not accepted.
    step = make_step(
        pool_path=str(seeded_pool), num_instructions=2, keep_rejected=True, expected_survival=0.8
    )
    texts = [
        "Name three rivers that flow through Germany.",
        "Suggest a weekly budget plan for a college student.",
        "Explain how vaccines train the immune system.",
        "Convert the following recipe from cups to grams.",
        "Recommend a board game for four players who like strategy.",
    ]
    rows = run(step, [candidate(text, f"c{i}") for i, text in enumerate(texts)])
    assert [row["rouge_l_reason"] for row in rows] == [None, None, None, None, "enough_in_flight"]
    step.unload()
    with PoolStore(seeded_pool) as store:
        assert store.count("machine") == 4
        # Once accepted tasks are lost downstream, the expectation drops and novel
        # candidates are accepted again.
        store.record_drops(
            [
                {"candidate_id": f"c{i}", "stage": "instances", "reason": "no_valid_instances"}
                for i in range(4)
            ]
        )
    step = make_step(pool_path=str(seeded_pool), num_instructions=2, keep_rejected=True)
    rows = run(step, [candidate("Outline a plan to learn touch typing in a month.", "c9")])
    assert rows[0]["rouge_l_reason"] is None
