"""Speed and memory of `EmbeddingIndex` (exact cosine NN) against faiss `IndexFlatIP`.

Measures, at the Self-Instruct paper's scale (175 seeds + N = 52,000 generated tasks,
dimension 384 as multilingual-e5-small):

1. the incremental loop the semantic filter runs: for each candidate, query it against the
   whole pool, then add it (total time; mean and p99 per query+add over the last 1000
   steps; slowest step; peak-RSS growth), for `EmbeddingIndex` and for faiss
   `IndexFlatIP` (exact), each in its own subprocess, peak RSS from VmHWM reset per phase;
2. a naive baseline (a Python list of vectors, `np.stack`-ed for every query) on a smaller
   N, extrapolated to the full N with a linear fit of step time against pool size;
3. a batch query: 1000 queries at once against the full pool (`nearest_many` against
   faiss `search(k=1)`), time per query and peak-RSS growth;
4. a correctness cross-check: for 200 random queries (and 200 near-duplicates of pool
   members) the nearest index and score agree with faiss (or with a float64 numpy
   brute force when faiss is missing), and the two incremental loops found the same
   neighbour at every step.

The vectors are synthetic unit vectors (numpy `default_rng(0)` normals, normalised): a
nearest-neighbour search's time does not depend on the values, only on the pool size and
dimension, and embedding 52K texts takes minutes on its own (measured separately, with the
embeddings model). faiss is the strongest exact baseline; it is tuned here (its OpenMP
thread count is chosen by a quick calibration), `EmbeddingIndex` runs with numpy's
defaults. Without faiss (`pip install faiss-cpu`) the faiss parts are skipped.

    python -m benchmarks.semantic_index [--n 52000] [--dim 384] [--naive-n 2000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from distilabel_selfinstruct.filters.embedding_index import EmbeddingIndex, normalized

try:
    import faiss
except ImportError:  # the benchmark's baseline only: not a project dependency
    faiss = None

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
QueryFn = Callable[[np.ndarray], tuple[int, float]]
AddFn = Callable[[np.ndarray], None]


def unit_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """`count` float32 unit rows from default_rng(seed) normals, made in blocks.

    Blocks keep the transient memory small, so the workers' RSS baseline is the data itself.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 4096):
        block = out[start : start + 4096]
        rng.standard_normal(dtype=np.float32, out=block)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def near_duplicates(pool: np.ndarray, count: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies (cosine ~0.98) of random pool members, and which members."""
    rng = np.random.default_rng(seed)
    members = rng.choice(len(pool), size=count, replace=False)
    noisy = pool[members] + 0.01 * rng.standard_normal((count, pool.shape[1]), dtype=np.float32)
    return normalized(noisy), members


def status_mib(field: str) -> float | None:
    """A `VmRSS`/`VmHWM` line of /proc/self/status in MiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def reset_peak_rss() -> None:
    """Restart the peak-RSS mark at the current RSS, so a phase's peak is its own.

    `ru_maxrss` cannot be used for that: it only grows, and Linux carries it over fork and
    exec, so a subprocess starts with its parent's peak.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mib() -> float:
    """Peak RSS since the last `reset_peak_rss` (VmHWM), else `ru_maxrss` (KiB on Linux)."""
    peak = status_mib("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    rss = status_mib("VmRSS")
    return rss if rss is not None else peak_rss_mib()


def backend(name: str, dim: int, threads: int | None) -> tuple[QueryFn, AddFn, Callable[[], Any]]:
    """One query function, one add function and the structure itself, per backend."""
    if name == "ours":
        index = EmbeddingIndex()

        def query(vector: np.ndarray) -> tuple[int, float]:
            match = index.nearest(vector)
            return match.index, match.score

        return query, index.add, lambda: index

    if name == "faiss":
        assert faiss is not None
        if threads:
            faiss.omp_set_num_threads(threads)
        flat = faiss.IndexFlatIP(dim)

        def query(vector: np.ndarray) -> tuple[int, float]:
            scores, ids = flat.search(vector[None, :], 1)
            return int(ids[0, 0]), float(scores[0, 0])

        return query, flat.add, lambda: flat

    if name == "naive":
        pool: list[np.ndarray] = []

        def query(vector: np.ndarray) -> tuple[int, float]:
            if not pool:
                return -1, 0.0
            scores = np.stack(pool) @ vector
            best = int(np.argmax(scores))
            return best, float(scores[best])

        def add(rows: np.ndarray) -> None:
            pool.extend(np.array(row) for row in rows)

        return query, add, lambda: pool

    raise ValueError(name)


def structure_bytes(name: str, structure: Any) -> int:
    if name == "ours":
        return structure._matrix.nbytes  # read only: the allocated capacity, not just the rows
    if name == "faiss":
        return structure.ntotal * structure.d * 4  # the codes (std::vector slack not visible)
    return sum(row.nbytes for row in structure)


def worker_loop(args: argparse.Namespace) -> dict[str, Any]:
    """The incremental loop: for each of `n` vectors, query it against the pool, then add it."""
    data = unit_vectors(args.seeds + args.n, args.dim)
    query, add, structure = backend(args.backend, args.dim, args.faiss_threads)
    add(data[: args.seeds])
    gc.collect()
    reset_peak_rss()
    rss_before = current_rss_mib()
    query_s = np.empty(args.n)
    add_s = np.empty(args.n)
    found = np.empty(args.n, dtype=np.int64)
    scores = np.empty(args.n, dtype=np.float64)
    first = args.seeds
    start = time.perf_counter()
    for i in range(args.n):
        row = first + i
        t0 = time.perf_counter()
        found[i], scores[i] = query(data[row])
        t1 = time.perf_counter()
        add(data[row : row + 1])
        t2 = time.perf_counter()
        query_s[i] = t1 - t0
        add_s[i] = t2 - t1
    total = time.perf_counter() - start
    peak_after, rss_after = peak_rss_mib(), current_rss_mib()
    if args.out:
        np.savez(args.out, found=found, scores=scores, query_s=query_s, add_s=add_s)
    step = query_s + add_s
    tail = step[-1000:]
    slowest = int(np.argmax(step))
    return {
        "total_s": total,
        "tail_mean_s": float(tail.mean()),
        "tail_p99_s": float(np.percentile(tail, 99)),
        "tail_query_mean_s": float(query_s[-1000:].mean()),
        "tail_add_mean_s": float(add_s[-1000:].mean()),
        "slowest_s": float(step[slowest]),
        "slowest_step": slowest,
        "slowest_pool": args.seeds + slowest,
        "slowest_add_s": float(add_s[slowest]),
        "max_add_s": float(add_s.max()),
        "max_add_pool": args.seeds + int(np.argmax(add_s)),
        "peak_rss_after_mib": peak_after,
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "structure_mib": structure_bytes(args.backend, structure()) / MIB,
        "pool": args.seeds + args.n,
    }


def worker_batch(args: argparse.Namespace) -> dict[str, Any]:
    """`args.batch` queries at once against the full pool (best of 3), and the RSS they take."""
    data = unit_vectors(args.seeds + args.n, args.dim)
    queries = unit_vectors(args.batch, args.dim, seed=1)
    if args.backend == "ours":
        index = EmbeddingIndex()
        index.add(data)

        def search(block: np.ndarray) -> None:
            index.nearest_many(block)

    else:
        assert faiss is not None
        if args.faiss_threads:
            faiss.omp_set_num_threads(args.faiss_threads)
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(data)

        def search(block: np.ndarray) -> None:
            flat.search(block, 1)

    search(queries[:32])  # warm-up: thread pools, first-touch pages
    gc.collect()
    reset_peak_rss()
    rss_before = current_rss_mib()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        search(queries)
        times.append(time.perf_counter() - t0)
    return {
        "best_per_query_s": min(times) / args.batch,
        "median_per_query_s": float(np.median(times)) / args.batch,
        "peak_rss_growth_mib": peak_rss_mib() - rss_before,
    }


def run_worker(args: argparse.Namespace, kind: str, name: str, **extra: Any) -> dict[str, Any]:
    """One measurement in a fresh interpreter (so its ru_maxrss is its own)."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.semantic_index",
        "--worker",
        kind,
        "--backend",
        name,
        "--n",
        str(extra.get("n", args.n)),
        "--dim",
        str(args.dim),
        "--seeds",
        str(args.seeds),
        "--batch",
        str(args.batch),
    ]
    if extra.get("threads"):
        command += ["--faiss-threads", str(extra["threads"])]
    if extra.get("out"):
        command += ["--out", str(extra["out"])]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"worker {kind}/{name} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    print(
        f"  done: {kind} {name} (n={extra.get('n', args.n)}) in {result['wall_s']:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return result


def median_call_s(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3f} ms"


def ratio(theirs: float | None, ours: float) -> str:
    return "—" if theirs is None else f"{theirs / ours:.2f}×"


def check_agreement(
    ours: EmbeddingIndex, pool: np.ndarray, flat: Any, queries: np.ndarray, label: str
) -> list[str]:
    """Our nearest (one query at a time, as the filter asks) against faiss and float64 numpy."""
    mine = [ours.nearest(q) for q in queries]
    many = ours.nearest_many(queries)
    exact = queries.astype(np.float64) @ pool.astype(np.float64).T
    truth = exact.argmax(axis=1)
    lines = []
    same_many = sum(a.index == b.index for a, b in zip(mine, many, strict=True))
    many_diff = max(abs(a.score - b.score) for a, b in zip(mine, many, strict=True))
    lines.append(
        f"- {label}: `nearest` one by one and `nearest_many` agree on the index for "
        f"{same_many}/{len(queries)}, max |score difference| {many_diff:.2e}"
    )
    refs: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("float64 numpy brute force", truth, exact[np.arange(len(queries)), truth])
    ]
    if flat is not None:
        f_scores, f_ids = flat.search(queries, 1)
        refs.insert(0, ("faiss IndexFlatIP", f_ids[:, 0], f_scores[:, 0]))
    for ref_name, ref_ids, ref_scores in refs:
        agree = sum(m.index == int(r) for m, r in zip(mine, ref_ids, strict=True))
        worst = max(abs(m.score - float(s)) for m, s in zip(mine, ref_scores, strict=True))
        lines.append(
            f"- {label}: same nearest index as {ref_name} on {agree}/{len(queries)}, "
            f"max |score difference| {worst:.2e}"
        )
    return lines


def compare_loops(ours_file: Path, faiss_file: Path, data: np.ndarray, seeds: int) -> str:
    """Did both incremental loops find the same neighbour at every step (ties aside)?"""
    a, b = np.load(ours_file), np.load(faiss_file)
    differ = np.flatnonzero(a["found"] != b["found"])
    ties = 0
    for step in differ:
        query = data[seeds + step].astype(np.float64)
        s_a = float(data[a["found"][step]].astype(np.float64) @ query)
        s_b = float(data[b["found"][step]].astype(np.float64) @ query)
        ties += abs(s_a - s_b) < 1e-6
    worst = float(np.max(np.abs(a["scores"] - b["scores"])))
    return (
        f"- incremental loops: same nearest index at {len(a['found']) - len(differ):,}/"
        f"{len(a['found']):,} steps ({len(differ)} differ, {ties} of them float32 ties within "
        f"1e-6), max |score difference| {worst:.2e}"
    )


def in_process(args: argparse.Namespace, data: np.ndarray) -> dict[str, Any]:
    """The cross-check, the faiss thread calibration and a one-query breakdown, here."""
    ours = EmbeddingIndex()
    ours.add(data)
    flat = None
    default_threads = faiss.omp_get_max_threads() if faiss is not None else 0
    if faiss is not None:
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(data)
    checks = check_agreement(
        ours,
        data,
        flat,
        unit_vectors(args.checks, args.dim, seed=1)[: args.checks],
        f"{args.checks} random queries",
    )
    dup_queries, members = near_duplicates(data, args.checks)
    checks += check_agreement(ours, data, flat, dup_queries, f"{args.checks} near-duplicates")
    found_members = sum(
        ours.nearest(q).index == int(m) for q, m in zip(dup_queries, members, strict=True)
    )
    checks.append(f"- near-duplicates: the perturbed member found {found_members}/{args.checks}")

    probe = data[7]
    probe_2d = normalized(probe)
    scores_2d = probe_2d @ ours.vectors.T
    breakdown = {
        "`nearest(v)` (whole call)": median_call_s(lambda: ours.nearest(probe), 200),
        "`normalized(v)`": median_call_s(lambda: normalized(probe), 200),
        "`v[None] @ pool.T` (what `nearest_many` runs: gemm, M = 1)": median_call_s(
            lambda: probe_2d @ ours.vectors.T, 200
        ),
        "`pool @ v` (gemv, for comparison)": median_call_s(lambda: ours.vectors @ probe, 200),
        "`np.argmax(scores, axis=1)`": median_call_s(lambda: np.argmax(scores_2d, axis=1), 200),
    }
    single: dict[int, float] = {}
    faiss_threads = 0
    if flat is not None:
        for threads in sorted({1, default_threads}):
            faiss.omp_set_num_threads(threads)
            single[threads] = median_call_s(lambda: flat.search(probe[None, :], 1), 100)
        faiss.omp_set_num_threads(default_threads)
        faiss_threads = min(single, key=single.__getitem__)
    return {
        "checks": checks,
        "breakdown": breakdown,
        "single": single,
        "faiss_threads": faiss_threads,
        "default_threads": default_threads,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=52_000, help="generated tasks (loop steps)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--seeds", type=int, default=175, help="pool size before the loop")
    parser.add_argument("--naive-n", type=int, default=2000, help="naive loop steps (0: skip)")
    parser.add_argument("--batch", type=int, default=1000, help="queries in the batch workload")
    parser.add_argument("--checks", type=int, default=200, help="cross-check queries")
    parser.add_argument("--worker", choices=["loop", "batch"], help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["ours", "faiss", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--faiss-threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker_loop(args) if args.worker == "loop" else worker_batch(args)
        print(json.dumps(result))
        return

    command = "cd /work/main && .venv/bin/python -m benchmarks.semantic_index"
    flags = shlex.join(sys.argv[1:] if argv is None else argv)
    command = f"{command} {flags}".rstrip()
    load_start = os.getloadavg()
    started = time.perf_counter()
    pool_size = args.seeds + args.n
    if faiss is None:
        print("faiss is not importable (pip install faiss-cpu): skipping the faiss parts.")
    print(f"Preparing {pool_size:,} unit vectors of dimension {args.dim} ...", file=sys.stderr)

    data = unit_vectors(pool_size, args.dim)
    here = in_process(args, data)
    checks, breakdown, single = here["checks"], here["breakdown"], here["single"]
    faiss_threads, default_threads = here["faiss_threads"], here["default_threads"]
    gc.collect()

    with tempfile.TemporaryDirectory() as tmp:
        ours_file, faiss_file = Path(tmp) / "ours.npz", Path(tmp) / "faiss.npz"
        loop_ours = run_worker(args, "loop", "ours", out=ours_file)
        loop_faiss = (
            run_worker(args, "loop", "faiss", threads=faiss_threads, out=faiss_file)
            if faiss is not None
            else None
        )
        if loop_faiss is not None:
            checks.append(compare_loops(ours_file, faiss_file, data, args.seeds))
    naive = run_worker(args, "loop", "naive", n=args.naive_n) if args.naive_n >= 1000 else None
    batch_ours = run_worker(args, "batch", "ours")
    batch_faiss_by_threads = (
        {t: run_worker(args, "batch", "faiss", threads=t) for t in sorted({1, default_threads})}
        if faiss is not None
        else {}
    )
    batch_faiss = (
        min(batch_faiss_by_threads.values(), key=lambda r: r["best_per_query_s"])
        if batch_faiss_by_threads
        else None
    )
    load_end = os.getloadavg()

    def field(result: dict[str, Any] | None, key: str) -> float | None:
        return None if result is None else result[key]

    n, lo = args.n, args.seeds + args.n - 1000
    print(f"\n## Semantic index: {args.seeds} seeds + {n:,} steps, dim {args.dim}\n")
    print("| workload | EmbeddingIndex | faiss IndexFlatIP | ratio (faiss time / ours) |")
    print("|---|---|---|---|")
    rows = [
        (f"incremental loop, {n:,} × (query + add): total", "total_s", "s"),
        (f"mean per query+add, last 1000 steps (pool {lo:,}–{pool_size:,})", "tail_mean_s", ""),
        ("  of which the query (mean)", "tail_query_mean_s", ""),
        ("  of which the add (mean)", "tail_add_mean_s", ""),
        ("p99 per query+add, last 1000 steps", "tail_p99_s", ""),
        ("slowest single step of the loop", "slowest_s", ""),
        ("slowest single add of the loop (a growth copy)", "max_add_s", ""),
    ]
    for label, key, unit in rows:
        mine, theirs = loop_ours[key], field(loop_faiss, key)
        if unit == "s":
            their_text = "—" if theirs is None else f"{theirs:.1f} s"
            print(f"| {label} | {mine:.1f} s | {their_text} | {ratio(theirs, mine)} |")
        else:
            print(f"| {label} | {ms(mine)} | {ms(theirs)} | {ratio(theirs, mine)} |")
    mine, theirs = batch_ours["best_per_query_s"], field(batch_faiss, "best_per_query_s")
    print(
        f"| batch: {args.batch} queries at once vs {pool_size:,} pool, per query (best of 3) "
        f"| {ms(mine)} | {ms(theirs)} | {ratio(theirs, mine)} |"
    )

    print("\n(ratio > 1: EmbeddingIndex is faster.)")
    for name, result in [("EmbeddingIndex", loop_ours), ("faiss", loop_faiss)]:
        if result is not None:
            print(
                f"\n{name}: slowest step at pool {result['slowest_pool']:,} (its add took "
                f"{ms(result['slowest_add_s'])}); slowest add at pool {result['max_add_pool']:,}."
            )

    if naive is not None:
        print(
            f"\n### Naive baseline: list of vectors, `np.stack` per query (measured N={args.naive_n:,})\n"
        )
        measured = naive["total_s"]
        # Step time grows linearly with the pool: fit a + b * pool on the measured tail/total.
        first_pool, last_pool = args.seeds, args.seeds + args.naive_n
        mean_pool = (first_pool + last_pool - 1) / 2
        tail_pool = last_pool - 500
        b = (naive["tail_mean_s"] - measured / args.naive_n) / (tail_pool - mean_pool)
        a = naive["tail_mean_s"] - b * tail_pool
        full_total = n * a + b * (n * args.seeds + n * (n - 1) / 2)
        full_tail = a + b * (pool_size - 500)
        print(
            f"- measured: {args.naive_n:,} steps in {measured:.1f} s; "
            f"last 1000 steps {ms(naive['tail_mean_s'])} mean (pool {last_pool - 1000:,}–{last_pool:,})"
        )
        print(
            f"- EXTRAPOLATED to {n:,} steps (step time = {a * 1e3:.3f} ms + "
            f"{b * 1e9:.1f} ns × pool size): total ≈ {full_total:.0f} s "
            f"({full_total / loop_ours['total_s']:.1f}× EmbeddingIndex), "
            f"≈ {ms(full_tail)} per step at the end "
            f"({full_tail / loop_ours['tail_mean_s']:.1f}× EmbeddingIndex)"
        )

    print("\n### Memory (RSS, each loop and batch in its own process)\n")
    for name, result in [("EmbeddingIndex", loop_ours), ("faiss IndexFlatIP", loop_faiss)]:
        if result is None:
            continue
        print(
            f"- {name} loop: RSS {result['rss_before_mib']:.0f} MiB before the loop (imports, "
            f"{args.seeds} seeds and the {pool_size * args.dim * 4 / MIB:.0f} MiB of input vectors), "
            f"peak RSS {result['peak_rss_after_mib']:.0f} MiB "
            f"(+{result['peak_rss_after_mib'] - result['rss_before_mib']:.0f} MiB), RSS at the end "
            f"{result['rss_after_mib']:.0f} MiB; structure {result['structure_mib']:.1f} MiB "
            f"for {pool_size:,} × {args.dim} float32 ({pool_size * args.dim * 4 / MIB:.1f} MiB of rows)"
        )
    print(
        f"- batch of {args.batch}: peak RSS growth EmbeddingIndex "
        f"+{batch_ours['peak_rss_growth_mib']:.0f} MiB"
        + ("" if batch_faiss is None else f", faiss +{batch_faiss['peak_rss_growth_mib']:.0f} MiB")
        + f" (a full {args.batch} × {pool_size:,} float32 score matrix is "
        f"{args.batch * pool_size * 4 / MIB:.0f} MiB)"
    )

    print("\n### Correctness\n")
    print("\n".join(checks))

    print(f"\n### One query at pool {pool_size:,} (median of 200, this process)\n")
    for label, seconds in breakdown.items():
        print(f"- {label}: {ms(seconds)}")
    for threads, seconds in single.items():
        print(f"- faiss `search(v, 1)` with {threads} OpenMP thread(s): {ms(seconds)}")
    if batch_faiss_by_threads:
        print(
            "- faiss batch per query by OpenMP threads: "
            + ", ".join(
                f"{t}: {ms(r['best_per_query_s'])}" for t, r in batch_faiss_by_threads.items()
            )
        )

    print("\n### Environment\n")
    print(f"- command: `{command}`")
    print(
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"faiss {faiss.__version__ if faiss is not None else 'not installed'}"
    )
    print(
        f"- CPUs (os.sched_getaffinity): {len(os.sched_getaffinity(0))}; "
        f"faiss OpenMP threads: default {default_threads or '—'}, loop ran with "
        f"{faiss_threads or '—'} (the faster in the calibration above); numpy/OpenBLAS "
        f"defaults for EmbeddingIndex; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    print(
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f}; "
        f"whole benchmark {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
