"""RougeLIndex must decide and score exactly as rouge-score's rougeL does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_tokenize

from distilabel_selfinstruct.filters.rouge_index import (
    RougeLIndex,
    RougeLMatch,
    f_measure,
    rouge_l_f,
    tokenize,
)

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "seed_tasks.jsonl"
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
HYPO = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Small vocabulary so that random texts share tokens and reach high scores.
WORDS = [
    "write",
    "a",
    "the",
    "poem",
    "list",
    "of",
    "5",
    "2023",
    "sea",
    "Sea",
    "SEA",
    "é",
    "café",
    "naïve",
    "写",
    "诗",
    "大海",
    "x_y",
    "don't",
    "e-mail",
    "İ",
    "K",
]
SEPARATORS = [" ", "  ", ", ", ". ", "!", "\n", "\t", "-", "_", "?", " ... "]


@st.composite
def instructions(draw: st.DrawFn, max_words: int = 40) -> str:
    """Realistic-ish texts: words from a tiny vocabulary, punctuation, noise."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=30))  # arbitrary unicode, often no tokens
    if kind == 1:
        return draw(st.sampled_from(["", " ", "!!!", "...?", "—", "写一首诗", "123"]))
    n = draw(st.integers(1, max_words))
    parts = []
    for _ in range(n):
        parts.append(draw(st.sampled_from(WORDS)))
        parts.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(parts)


def rouge_f(target: str, prediction: str) -> float:
    return SCORER.score(target, prediction)["rougeL"].fmeasure


def naive_best(pool: list[str], text: str) -> RougeLMatch:
    if not pool:
        return RougeLMatch(0.0, -1)
    scores = [rouge_f(text, p) for p in pool]
    best = int(np.argmax(scores))
    return RougeLMatch(float(scores[best]), best)


def naive_filter(
    pool: list[str], texts: list[str], threshold: float
) -> list[tuple[RougeLMatch, bool]]:
    pool = list(pool)
    out = []
    for text in texts:
        match = naive_best(pool, text)
        ok = not max([rouge_f(text, p) for p in pool] or [0.0]) > threshold
        if ok:
            pool.append(text)
        out.append((match, ok))
    return out


@HYPO
@given(st.text(max_size=60) | instructions())
def test_tokenizer_matches_rouge_score(text: str) -> None:
    assert tokenize(text) == rouge_tokenize.tokenize(text, None)


@HYPO
@given(instructions(), instructions())
def test_pair_score_matches_rouge_score(a: str, b: str) -> None:
    expected = rouge_f(a, b)
    assert rouge_l_f(a, b) == expected
    assert rouge_l_f(b, a) == expected  # F-measure is symmetric bit for bit


@pytest.mark.parametrize("m", range(1, 31))
def test_f_measure_bitwise_including_threshold_ties(m: int) -> None:
    # Build every (L, m, n) directly, so scores landing at 0.7 are covered.
    a = [f"a{i}" for i in range(m)]
    for n in range(1, 31):
        for lcs in range(min(m, n) + 1):
            b = a[:lcs] + [f"z{i}" for i in range(n - lcs)]
            expected = rouge_scorer._score_lcs(a, b).fmeasure
            got = f_measure(lcs, m, n)
            assert got == expected
            assert (got > 0.7) == (expected > 0.7)


def test_threshold_tie_is_accepted() -> None:
    # 7 of 10 tokens in common: F = 0.7 exactly in floating point -> not > 0.7.
    a = "t0 t1 t2 t3 t4 t5 t6 t7 t8 t9"
    b = "t0 t1 t2 t3 t4 t5 t6 x7 x8 x9"
    assert rouge_f(a, b) == 0.7
    idx = RougeLIndex()
    idx.add([a])
    [(match, accepted)] = idx.filter_batch([b], threshold=0.7)
    assert match == RougeLMatch(0.7, 0)
    assert accepted


@HYPO
@given(st.lists(instructions(), max_size=25), instructions())
def test_best_match_is_exact_max_and_first_argmax(pool: list[str], text: str) -> None:
    idx = RougeLIndex()
    idx.add(pool)
    assert len(idx) == len(pool)
    got = idx.best_match(text)
    expected = naive_best(pool, text)
    assert got.index == expected.index
    assert got.score == pytest.approx(expected.score, abs=1e-9)
    assert got.score == expected.score


@HYPO
@given(
    st.lists(instructions(max_words=12), max_size=10),
    st.lists(instructions(max_words=12), max_size=15),
    st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.9, 1.0]),
)
def test_filter_batch_matches_sequential_rouge_loop(
    pool: list[str], batch: list[str], threshold: float
) -> None:
    idx = RougeLIndex()
    idx.add(pool)
    got = idx.filter_batch(batch, threshold=threshold)
    assert got == naive_filter(pool, batch, threshold)
    assert len(idx) == len(pool) + sum(ok for _, ok in got)


def test_long_and_repetitive_texts() -> None:
    rng = random.Random(7)
    vocab = ["a", "b", "c", "the", "of", "poem"]
    pool = [" ".join(rng.choices(vocab, k=rng.randint(1, 300))) for _ in range(30)]
    idx = RougeLIndex()
    idx.add(pool)
    for _ in range(10):
        text = " ".join(rng.choices(vocab, k=rng.randint(1, 300)))
        assert idx.best_match(text) == naive_best(pool, text)


def test_empty_pool_and_empty_text() -> None:
    idx = RougeLIndex()
    assert len(idx) == 0
    assert idx.best_match("anything") == RougeLMatch(0.0, -1)
    idx.add(["!!!", "write a poem"])
    # No tokens: rouge-score scores 0 against everything; argmax is the first.
    assert idx.best_match("...") == RougeLMatch(0.0, 0)
    assert idx.best_match("write a poem") == RougeLMatch(1.0, 1)
    assert idx.filter_batch([]) == []


def test_unicode_tokenizer_opt_in() -> None:
    zh = "写一首关于大海的诗。"
    assert rouge_l_f(zh, zh) == 0.0  # rouge-score drops non-ASCII text
    assert rouge_l_f(zh, zh, tokenizer="unicode") == 1.0
    assert tokenize("东京タワー", "unicode") == ["东", "京", "タ", "ワ", "ー"]
    assert tokenize("Straße, NAÏVE_Café", "unicode") == ["strasse", "naïve", "café"]
    assert tokenize("हिन्दी भाषा", "unicode") == ["हिन्दी", "भाषा"]
    idx = RougeLIndex(tokenizer="unicode")
    idx.add([zh, "Write a poem."])
    assert idx.best_match("写一首关于大海的诗") == RougeLMatch(1.0, 0)
    # LCS 6 of 8 and 9 characters: F = 12/17 > 0.7, a near-duplicate.
    [(match, accepted)] = idx.filter_batch(["写一首关于山的歌"])
    assert match.index == 0 and match.score == pytest.approx(12 / 17)
    assert not accepted


def test_unknown_tokenizer() -> None:
    with pytest.raises(ValueError, match="Unknown tokenizer"):
        RougeLIndex(tokenizer="whitespace")


@pytest.mark.skipif(not SEEDS.exists(), reason="seed_tasks.jsonl not available")
def test_seed_file_filter_batch_matches_rouge_loop() -> None:
    seeds = [json.loads(line)["instruction"] for line in SEEDS.open(encoding="utf-8")]
    rng = random.Random(0)
    # Near-duplicates of seeds (one word dropped or swapped) must be rejected
    # exactly when rouge-score rejects them.
    variants = []
    for text in rng.sample(seeds, 40):
        words = text.split()
        i = rng.randrange(len(words))
        if rng.random() < 0.5:
            del words[i]
        else:
            words[i] = rng.choice(["story", "list", "Python", "the"])
        variants.append(" ".join(words))
    idx = RougeLIndex()
    got = idx.filter_batch(seeds + variants)
    assert got == naive_filter([], seeds + variants, 0.7)
    assert not all(ok for _, ok in got)
