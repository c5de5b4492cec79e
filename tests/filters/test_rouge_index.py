"""RougeLIndex must decide and score exactly as rouge-score's rougeL does.

Production (`RougeLFilter`, `AdmitToPool`) only calls `RougeLIndex.add` and
`RougeLIndex.best_match`; the equivalence tests drive exactly that path.
"""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_tokenize

from distilabel_selfinstruct.filters import _rouge_postings, rouge_index
from distilabel_selfinstruct.filters.rouge_index import (
    RougeLIndex,
    RougeLMatch,
    f_measure,
    rouge_l_f,
    tokenize,
)

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_SEEDS = ROOT / "distilabel_selfinstruct" / "data" / "seed_tasks.jsonl"
SHARED_SEEDS = ROOT / ".." / "shared" / "data" / "seed_tasks.jsonl"
SEED_FILES = [
    pytest.param(BUNDLED_SEEDS, id="bundled"),
    pytest.param(
        SHARED_SEEDS,
        id="shared",
        marks=pytest.mark.skipif(not SHARED_SEEDS.exists(), reason="../shared seeds absent"),
    ),
]
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
HYPO = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.too_slow],
)

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
    "İ",  # lower() gives "i" + combining dot: an ASCII token appears
    "\u212a",  # KELVIN SIGN, lower() gives ASCII "k"
    "\ufb01le",  # "ﬁle": the ligature is dropped by rouge-score
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
    """rouge-score against every pool text; max and first argmax as numpy does."""
    if not pool:
        return RougeLMatch(0.0, -1)
    scores = [rouge_f(text, p) for p in pool]
    best = int(np.argmax(scores))
    return RougeLMatch(float(scores[best]), best)


def rouge_score_loop(
    pool: Sequence[str], texts: list[str], threshold: float = 0.7
) -> list[tuple[RougeLMatch, bool]]:
    """The Self-Instruct loop on rouge-score: reject when max(scores) > threshold, else add."""
    pool = list(pool)
    out = []
    for text in texts:
        match = naive_best(pool, text)
        ok = not match.score > threshold
        if ok:
            pool.append(text)
        out.append((match, ok))
    return out


def production_loop(
    idx: RougeLIndex, texts: Sequence[str], threshold: float = 0.7, score_floor: float = 0.0
) -> list[tuple[RougeLMatch, bool]]:
    """What RougeLFilter does per row: `best_match`, then `add` the text when kept.

    (RougeLFilter leaves `score_floor` at 0; the benchmark's --score-floor sets it.)
    """
    out = []
    for text in texts:
        match = idx.best_match(text, score_floor=score_floor)
        ok = not match.score > threshold
        if ok:
            idx.add([text])
        out.append((match, ok))
    return out


@cache
def load_seeds(path: Path) -> tuple[str, ...]:
    with path.open(encoding="utf-8") as f:
        return tuple(json.loads(line)["instruction"] for line in f if line.strip())


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
    [(match, accepted)] = production_loop(idx, [b], threshold=0.7)
    assert match == RougeLMatch(0.7, 0)
    assert accepted
    assert len(idx) == 2


def dense_columns(min_df: int) -> mock._patch:
    """Makes elements dense from `min_df` occurrences (small pools use both paths)."""
    return mock.patch.object(_rouge_postings, "_DENSE_MIN_DF", min_df)


@pytest.mark.parametrize("dense_min_df", [1, 3, 10_000])
@HYPO
@given(st.lists(instructions(), max_size=25), instructions())
def test_best_match_is_exact_max_and_first_argmax(
    dense_min_df: int, pool: list[str], text: str
) -> None:
    with dense_columns(dense_min_df):
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
def test_add_and_best_match_loop_matches_rouge_score_loop(
    pool: list[str], batch: list[str], threshold: float
) -> None:
    # Texts added one at a time after their query, as RougeLFilter does: the
    # index must stay exact while it grows (vocabulary, postings, dense columns).
    with dense_columns(2):
        idx = RougeLIndex()
        idx.add(pool)
        got = production_loop(idx, batch, threshold=threshold)
    assert got == rouge_score_loop(pool, batch, threshold)
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


def synthetic_texts(rng: random.Random, count: int) -> list[str]:
    """Zipfian words, common starters and near-duplicates, like LLM output."""
    vocab = [f"w{i}" for i in range(400)]
    weights = [1 / (rank + 1) for rank in range(len(vocab))]
    starters = ["write a", "given the following", "generate a list of", "explain"]
    texts: list[str] = []
    for _ in range(count):
        if texts and rng.random() < 0.15:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
        else:
            words = rng.choice(starters).split()
            words += rng.choices(vocab, weights, k=rng.randint(0, 30))
        texts.append(" ".join(words))
    return texts


def brute_force_best(pool: list[str], text: str) -> RougeLMatch:
    """Every pair, with rapidfuzz LCS and rouge-score's F formula (tested above)."""
    query = tokenize(text)
    scores = [
        f_measure(LCSseq.similarity(query, t), len(query), len(t)) if query and t else 0.0
        for t in (tokenize(p) for p in pool)
    ]
    best = int(np.argmax(scores))
    return RougeLMatch(scores[best], best)


def test_large_pool_dense_columns_match_brute_force() -> None:
    rng = random.Random(3)
    pool = synthetic_texts(rng, 3000)
    queries = synthetic_texts(rng, 150) + rng.sample(pool, 20) + ["", "zzz", "the"]
    idx = RougeLIndex()
    idx.add(pool)
    assert idx._postings._rows  # common elements went dense
    for text in queries:
        assert idx.best_match(text) == brute_force_best(pool, text), text
    # And against rouge-score itself on a few queries.
    pool_tokens = [rouge_tokenize.tokenize(p, None) for p in pool]
    for text in queries[:4]:
        tokens = rouge_tokenize.tokenize(text, None)
        scores = [rouge_scorer._score_lcs(tokens, p).fmeasure for p in pool_tokens]
        assert idx.best_match(text) == (max(scores), int(np.argmax(scores)))


def test_score_floor_keeps_decisions_and_true_scores() -> None:
    # The benchmark's --score-floor path: the production loop with a floor.
    rng = random.Random(5)
    pool = synthetic_texts(rng, 1500)
    batch = synthetic_texts(rng, 300)
    exact, fast = RougeLIndex(), RougeLIndex()
    exact.add(pool)
    fast.add(pool)
    expected = production_loop(exact, batch)
    got = production_loop(fast, batch, score_floor=0.7)
    assert [ok for _, ok in got] == [ok for _, ok in expected]
    final_pool = pool + [t for t, (_, ok) in zip(batch, got, strict=True) if ok]
    skipped = 0
    for (match, _), (true_max, _), text in zip(got, expected, batch, strict=True):
        if true_max.score > 0.7:
            assert match == true_max
        else:
            skipped += match != true_max
            # Below the floor: a real pair (its exact score), at most the max.
            assert match.score <= true_max.score
            assert match.score == rouge_l_f(text, final_pool[match.index])
    assert skipped  # the floor did skip work
    # best_match with a floor is exact above it.
    for text in batch[:50]:
        true_max = exact.best_match(text)
        match = fast.best_match(text, score_floor=0.5)
        assert match == true_max if true_max.score > 0.5 else match.score <= 0.5


def test_integer_sequences_when_vocabulary_exceeds_code_points() -> None:
    rng = random.Random(11)
    pool = synthetic_texts(rng, 200)
    queries = synthetic_texts(rng, 40)
    with mock.patch.object(rouge_index, "_MAX_CHAR_ID", 50):
        idx = RougeLIndex()
        idx.add(pool[:100])
        assert not idx._as_text
        idx.add(pool[100:])
        for text in queries:
            assert idx.best_match(text) == brute_force_best(pool, text)


def test_pickle_round_trip_keeps_answers() -> None:
    # distilabel may ship step state between processes.
    rng = random.Random(13)
    pool = synthetic_texts(rng, 500)
    idx = RougeLIndex()
    idx.add(pool)
    copy = pickle.loads(pickle.dumps(idx))
    batch = synthetic_texts(rng, 30)
    assert production_loop(copy, batch) == production_loop(idx, batch)
    assert len(copy) == len(idx)


def test_rejects_single_string() -> None:
    idx = RougeLIndex()
    with pytest.raises(TypeError):
        idx.add("write a poem")
    assert len(idx) == 0


def test_empty_pool_and_empty_text() -> None:
    idx = RougeLIndex()
    assert len(idx) == 0
    assert idx.best_match("anything") == RougeLMatch(0.0, -1)
    idx.add(["!!!", "write a poem"])
    # No tokens: rouge-score scores 0 against everything; argmax is the first.
    assert idx.best_match("...") == RougeLMatch(0.0, 0)
    assert idx.best_match("write a poem") == RougeLMatch(1.0, 1)
    idx.add([])
    assert len(idx) == 2


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
    [(match, accepted)] = production_loop(idx, ["写一首关于山的歌"])
    assert match.index == 0 and match.score == pytest.approx(12 / 17)
    assert not accepted
    assert len(idx) == 2


def test_unknown_tokenizer() -> None:
    with pytest.raises(ValueError, match="Unknown tokenizer"):
        RougeLIndex(tokenizer="whitespace")


def seed_near_duplicates(seeds: Sequence[str], rng: random.Random) -> list[str]:
    """Adversarial edits of real seeds, around and exactly at the 0.7 threshold."""
    out = []
    for text in rng.sample(seeds, min(40, len(seeds))):
        words = text.split()
        i = rng.randrange(len(words))
        if rng.random() < 0.5:
            del words[i]  # one word dropped
        else:
            words[i] = rng.choice(["story", "list", "Python", "the"])  # one word swapped
        out.append(" ".join(words))
    ten = [t for t in (tokenize(s) for s in seeds) if len(t) == 10]
    for tokens in ten[:5]:
        # 7 of 10 tokens kept: F = 0.7 exactly against the origin (accepted) ...
        out.append(" ".join(tokens[:7] + ["zqa", "zqb", "zqc"]))
        # ... and 8 of 10: F = 0.8 (rejected).
        out.append(" ".join(tokens[:8] + ["zqd", "zqe"]))
    for text in rng.sample(seeds, min(10, len(seeds))):
        out.append(text)  # exact duplicate: 1.0
        out.append(text.upper().replace(" ", "\n"))  # same tokens for rouge-score
        out.append(" ".join(reversed(text.split())))  # same bag, LCS much lower
        out.append(text + " " + rng.choice(seeds))  # a seed inside a longer text
        out.append(" ".join(w for w in text.split() for _ in range(2)))  # every word twice
    return out


@pytest.mark.parametrize("path", SEED_FILES)
def test_seed_file_production_loop_matches_rouge_score_loop(path: Path) -> None:
    seeds = load_seeds(path)
    candidates = seed_near_duplicates(seeds, random.Random(0))
    idx = RougeLIndex()
    idx.add(seeds)
    got = production_loop(idx, candidates)
    assert got == rouge_score_loop(seeds, candidates)
    # The seeds themselves, one by one into an empty pool.
    idx = RougeLIndex()
    assert production_loop(idx, seeds) == rouge_score_loop([], seeds)
    # The edits do reach both sides of the threshold, and land on it exactly.
    assert any(not ok for _, ok in got) and any(ok for _, ok in got)
    assert any(match.score == 0.7 and ok for match, ok in got)


@st.composite
def seed_adversaries(draw: st.DrawFn, seeds: Sequence[str]) -> str:
    """A real seed, duplicated, joined to another, or edited word by word."""
    base = draw(st.sampled_from(seeds))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return base
    if kind == 1:
        return base + draw(st.sampled_from(SEPARATORS)) + draw(st.sampled_from(seeds))
    if kind == 2:
        return draw(instructions())
    words = base.split()
    for _ in range(draw(st.integers(1, 5))):
        if not words:
            words.append(draw(st.sampled_from(WORDS)))
            continue
        i = draw(st.integers(0, len(words) - 1))
        op = draw(st.integers(0, 5))
        if op == 0:
            del words[i]
        elif op == 1:
            words.insert(i, words[i])  # repeated token
        elif op == 2:  # a word of another seed: ties between seeds
            words[i] = draw(st.sampled_from(draw(st.sampled_from(seeds)).split()))
        elif op == 3:  # reordering: same bag of words, the overlap bound is loose
            j = draw(st.integers(0, len(words) - 1))
            words[i], words[j] = words[j], words[i]
        elif op == 4:
            words[i] = words[i].upper()
        else:  # noise rouge-score tokenizes oddly: İ, KELVIN SIGN, CJK, hyphens
            words.insert(i, draw(st.sampled_from(WORDS)))
    return draw(st.sampled_from([" ", "  ", "\n", ", ", "_"])).join(words)


@pytest.mark.parametrize("path", SEED_FILES)
@settings(HYPO, max_examples=40)
@given(data=st.data())
def test_seed_pool_adversarial_production_loop_matches_rouge_score(
    path: Path, data: st.DataObject
) -> None:
    seeds = load_seeds(path)
    candidates = data.draw(st.lists(seed_adversaries(seeds), min_size=1, max_size=5))
    candidates += data.draw(st.lists(st.sampled_from(candidates), max_size=2))  # repeats
    # At 1.0 every candidate joins the pool, so a repeat ties with its first copy
    # (and a copied seed with the seed): the lowest position must win.
    threshold = data.draw(st.sampled_from([0.5, 0.7, 0.9, 1.0]))
    with dense_columns(data.draw(st.sampled_from([2, 10_000]))):
        idx = RougeLIndex()
        idx.add(seeds)
        got = production_loop(idx, candidates, threshold=threshold)
    assert got == rouge_score_loop(seeds, candidates, threshold)
