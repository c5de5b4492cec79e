"""Benchmark of the ROUGE-L novelty filter against rouge-score.

Measures, on the same pools and candidates:
  (a) the official Self-Instruct scripts' method: for every candidate a new
      ``multiprocessing.Pool(4)`` maps ``RougeScorer.score`` over the whole
      pool, re-tokenizing every pool text (a few candidates only);
  (b) rouge-score's own LCS (``rouge_scorer._score_lcs``) in one process on
      pre-tokenized pool texts (a few candidates only);
  (c) ``RougeLIndex.best_match`` (many candidates);
checks that all three agree on every max score and decision they measured,
then simulates a bootstrap that grows the pool from the seeds to 52K accepted
instructions through the production path (``RougeLFilter``'s loop: for each
candidate ``best_match``, then ``add`` when its score is not above 0.7) and
reports wall time, peak RSS and the histogram of max scores.

Usage:
    python benchmarks/rouge_filter.py                 # full run (~10 min)
    python benchmarks/rouge_filter.py --quick         # ~1 min
    python benchmarks/rouge_filter.py --sizes 1000 10000 --bootstrap 0
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import Pool
from pathlib import Path

from distilabel_selfinstruct.filters.rouge_index import RougeLIndex, tokenize

ROOT = Path(__file__).resolve().parents[1]
SEED_FILES = (
    ROOT / ".." / "shared" / "data" / "seed_tasks.jsonl",
    ROOT / "distilabel_selfinstruct" / "data" / "seed_tasks.jsonl",  # the bundled seeds
)

STARTERS = (
    "Write a|Generate a list of|Given a|Given the following|Classify the following|"
    "Explain why|Explain how|Create a|Find the|Tell me|Describe the|Summarize the|"
    "Rewrite the following|What is the|How can I|Suggest some|Translate the|"
    "Identify the|Compose a|Design a|Make a list of|Come up with|Provide an|"
    "Compare the|Convert the|Determine whether|Sort the|Edit the|Answer the following|"
    "Predict the|Detect the|Extract all the|Brainstorm|Recommend a|Plan a|"
    "Write a short story about|Write a poem about|Give me|Generate a question about|"
    "Is it true that|Can you|You are given|In this task you need to|Please write"
).split("|")
FUNCTION_WORDS = (
    "the a of to and in for is that with on as it be this by from an are or your "
    "which what how can you if each all its their about into not should given "
    "following one some more than when most using"
).split()


def load_seeds() -> list[str]:
    for path in SEED_FILES:
        if path.exists():
            with path.open(encoding="utf-8") as f:
                return [json.loads(line)["instruction"] for line in f if line.strip()]
    return []


class SyntheticInstructions:
    """Instruction-like texts: LLM-style starters, Zipfian words, near-duplicates.

    Lengths follow a log-normal around 14 rouge tokens (the seeds average 13);
    `dup_rate` of the texts are light edits of an earlier text, as LLMs often
    paraphrase their in-context examples.
    """

    def __init__(self, rng: random.Random, seeds: list[str], dup_rate: float = 0.12) -> None:
        self.rng = rng
        self.dup_rate = dup_rate
        seed_words = sorted({t for s in seeds for t in tokenize(s)})
        syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"]
        made_up = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(12000)}
        content = seed_words + sorted(made_up - set(seed_words))
        rng.shuffle(content)
        self.content = content
        self.content_cum = _zipf_cumulative(len(content), 1.05)
        self.function_cum = _zipf_cumulative(len(FUNCTION_WORDS), 1.0)
        self.starter_cum = _zipf_cumulative(len(STARTERS), 0.9)
        self.history: list[str] = list(seeds)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        rng = self.rng
        if self.history and rng.random() < self.dup_rate:
            text = self._edit(rng.choice(self.history))
        else:
            text = self._fresh()
        self.history.append(text)
        return text

    def _fresh(self) -> str:
        rng = self.rng
        n = max(1, min(80, round(rng.lognormvariate(math.log(11), 0.5))))
        words = rng.choices(STARTERS, cum_weights=self.starter_cum)[0].split()
        for _ in range(n):
            if rng.random() < 0.4:
                words.append(rng.choices(FUNCTION_WORDS, cum_weights=self.function_cum)[0])
            else:
                words.append(rng.choices(self.content, cum_weights=self.content_cum)[0])
        return " ".join(words) + rng.choice([".", "?", ":", ""])

    def _edit(self, text: str) -> str:
        rng = self.rng
        words = text.split()
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            i = rng.randrange(len(words) + 1)
            if op < 0.4 or not words:
                words.insert(i, rng.choices(self.content, cum_weights=self.content_cum)[0])
            elif op < 0.7:
                del words[min(i, len(words) - 1)]
            else:
                words[min(i, len(words) - 1)] = rng.choice(FUNCTION_WORDS)
        return " ".join(words) or "Write a poem."


def _zipf_cumulative(n: int, s: float) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += rank**-s
        out.append(total)
    return out


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    VmHWM where available: a spawned child's ru_maxrss also counts the forked
    parent image it replaced on exec.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def current_rss_mb() -> float:
    """Resident set size now, in MB (Linux; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return rss_mb()


def official_method(candidate: str, pool: list[str]) -> float:
    """(a) As the Self-Instruct scripts: a Pool(4) per candidate, re-tokenizing."""
    from rouge_score import rouge_scorer  # imported lazily: keeps the bootstrap process lean

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    with Pool(4) as p:
        scores = p.map(partial(scorer.score, candidate), pool)
    return max(s["rougeL"].fmeasure for s in scores)


def single_process_method(candidate: str, pool_tokens: list[list[str]]) -> float:
    """(b) rouge-score's LCS on pre-tokenized text, one process."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    tokens = scorer._tokenizer.tokenize(candidate)
    return max(rouge_scorer._score_lcs(tokens, p).fmeasure for p in pool_tokens)


def compare_methods(
    size: int, n_official: int, n_single: int, n_ours: int, seed: int
) -> dict[str, float]:
    rng = random.Random(seed)
    seeds = load_seeds()
    gen = SyntheticInstructions(rng, seeds)
    pool = (seeds + [next(gen) for _ in range(size)])[:size]
    candidates = [next(gen) for _ in range(max(n_ours, n_single, n_official))]

    t0 = time.perf_counter()
    index = RougeLIndex()
    index.add(pool)
    build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    ours = [index.best_match(c) for c in candidates[:n_ours]]
    t_ours = (time.perf_counter() - t0) / n_ours
    cpu_ours = (time.process_time() - c0) / n_ours

    pool_tokens = [tokenize(p) for p in pool]
    t0 = time.perf_counter()
    single = [single_process_method(c, pool_tokens) for c in candidates[:n_single]]
    t_single = (time.perf_counter() - t0) / n_single

    t0 = time.perf_counter()
    official = [official_method(c, pool) for c in candidates[:n_official]]
    t_official = (time.perf_counter() - t0) / n_official

    for i, match in enumerate(ours[:n_single]):
        assert abs(match.score - single[i]) <= 1e-9, (i, match, single[i])
        assert (match.score > 0.7) == (single[i] > 0.7)
    for i, score in enumerate(official):
        assert score == single[i] and (score > 0.7) == (ours[i].score > 0.7)
    rejected = sum(m.score > 0.7 for m in ours)
    return {
        "size": size,
        "build_s": build,
        "ours_per_s": 1 / t_ours,
        "ours_cpu_per_s": 1 / cpu_ours,
        "single_per_s": 1 / t_single,
        "official_per_s": 1 / t_official,
        "vs_official": t_official / t_ours,
        "vs_single": t_single / t_ours,
        "reject_rate": rejected / n_ours,
        "checked": f"{n_official}+{n_single}",
    }


def bootstrap(target: int, batch: int, seed: int, score_floor: float) -> dict[str, float]:
    """Grows a pool from the seeds to `target` accepted texts, as RougeLFilter does.

    Candidates come in rounds of `batch`; each is scored against the pool
    (`best_match`) and appended to it (`add`) when its score is not above 0.7,
    so later candidates of the round are compared with it. The pool size is
    checked between rounds.
    """
    threshold = 0.7
    floor = min(score_floor, threshold)  # keeps every decision exact
    rng = random.Random(seed)
    seeds = load_seeds()
    gen = SyntheticInstructions(rng, seeds)
    rss0 = current_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    index = RougeLIndex()
    index.add(seeds)
    candidates = 0
    histogram = [0] * 10
    gen_time = gen_cpu = 0.0
    while len(index) < target:
        g0, gc0 = time.perf_counter(), time.process_time()
        texts = [next(gen) for _ in range(batch)]
        gen_time += time.perf_counter() - g0
        gen_cpu += time.process_time() - gc0
        for text in texts:
            match = index.best_match(text, score_floor=floor)
            if not match.score > threshold:
                index.add([text])
            histogram[min(int(match.score * 10), 9)] += 1
        candidates += batch
    wall = time.perf_counter() - t0 - gen_time
    cpu = time.process_time() - c0 - gen_cpu
    return {
        "pool": len(index),
        "candidates": candidates,
        "wall_s": wall,
        "cpu_s": cpu,
        "per_s": candidates / wall,
        "peak_rss_mb": rss_mb(),
        "rss_after_mb": current_rss_mb(),
        "rss_before_mb": rss0,
        "accepted_share": (len(index) - len(seeds)) / candidates,
        "histogram": histogram,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 50000])
    parser.add_argument("--official", type=int, default=3, help="candidates for (a)")
    parser.add_argument("--single", type=int, default=10, help="candidates for (b)")
    parser.add_argument("--ours", type=int, default=2000, help="candidates for (c)")
    parser.add_argument("--bootstrap", type=int, default=52000, help="target pool, 0 = skip")
    parser.add_argument(
        "--batch", type=int, default=16, help="bootstrap candidates per round (pool size checks)"
    )
    parser.add_argument(
        "--score-floor",
        type=float,
        default=0.0,
        help="bootstrap best_match score_floor (0 = exact scores; decisions always exact)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="~1 minute run")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.official, args.single, args.ours = [1000, 10000], 2, 4, 500
        args.bootstrap = 10000

    print(
        f"seeds: {len(load_seeds())}  python {sys.version.split()[0]}  cores: {os.cpu_count()}"
        f"  load average at start: {os.getloadavg()[0]:.1f}"
    )
    if args.sizes:
        print(
            f"{'pool':>6} {'(a) cand/s':>11} {'(b) cand/s':>11} {'ours cand/s':>12} "
            f"{'(cpu)':>7} {'ours/(a)':>9} {'ours/(b)':>9} {'rejected':>8} {'agreed on':>9}"
        )
    for size in args.sizes:
        r = compare_methods(size, args.official, args.single, args.ours, args.seed)
        print(
            f"{r['size']:>6} {r['official_per_s']:>11.2f} {r['single_per_s']:>11.2f} "
            f"{r['ours_per_s']:>12.0f} {r['ours_cpu_per_s']:>7.0f} {r['vs_official']:>8.0f}x "
            f"{r['vs_single']:>8.0f}x {r['reject_rate']:>8.1%} {r['checked']:>9}",
            flush=True,
        )
    if args.bootstrap:
        # A fresh process, so that peak RSS is the bootstrap's own.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as ex:
            r = ex.submit(bootstrap, args.bootstrap, args.batch, args.seed, args.score_floor)
            r = r.result()
        print(
            f"bootstrap {len(load_seeds())} -> {r['pool']} accepted from {r['candidates']} "
            f"candidates ({r['accepted_share']:.0%} accepted; batch {args.batch}, "
            f"score_floor {args.score_floor}): {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
            f"{r['candidates'] / r['cpu_s']:.0f} cand/s CPU; RSS {r['rss_before_mb']:.0f} MB "
            f"before, {r['rss_after_mb']:.0f} MB after, peak {r['peak_rss_mb']:.0f} MB"
        )
        total = sum(r["histogram"])
        print("max-score histogram (all candidates):")
        for i, count in enumerate(r["histogram"]):
            bar = "#" * round(60 * count / max(r["histogram"]))
            print(f"  [{i / 10:.1f}, {(i + 1) / 10:.1f}) {count / total:6.1%} {bar}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
