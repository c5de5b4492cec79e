"""How many candidates per second the loop's single writer (`AdmitToPool`) sustains on one
core, by pool size and pool backend (SQLite file, PostgreSQL on loopback).

Everything else in the loop scales out (LLM stages and ROUGE-L scoring take replicas);
admission does not: it is the one writer of accepted instructions. Per candidate it reads
whether the candidate was admitted before (a replay), reads the tasks admitted since the
candidate was scored and rescores it against them, reads the loop's state for the stop
rule, and writes the task. This measures exactly that (`AdmitToPool.process`, as the
pipeline calls it) on candidates scored against the pool as it stood (so each is rescored
against the ones admitted before it in the same pass), with the pool prefilled to N
machine tasks, 80% of them finished.

PostgreSQL is a throwaway server (tests/postgres_server.py: Debian's binaries, loopback,
fsync off as in the tests; a managed server with fsync on and a network hop adds its
commit latency per admitted task).

Usage:
    python -m benchmarks.novelty_writer                       # 1K, 10K, 50K; both backends
    python -m benchmarks.novelty_writer --sizes 1000 --candidates 200 --backends sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.pool import open_pool_store, task_id_for
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

WORDS = (
    "write explain list describe compare summarize classify translate generate give find"
    " the a of to in for with on about from by story poem email recipe plan reasons steps"
    " benefits history science music city river garden budget travel health school code"
    " function table chart review letter speech essay summary question answer argument"
).split()


def synthetic(rng: random.Random, n: int, tag: str) -> list[str]:
    texts = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        texts.append(f"{' '.join(words).capitalize()} ({tag} {i}).")
    return texts


def prefill(location: str, size: int, rng: random.Random) -> int:
    """The pool with the bundled seeds and `size` machine tasks; returns the last seq."""
    with open_pool_store(location) as store:
        store.add_seeds(load_seed_tasks(seed_paths(None)))
        rows = [
            (task_id_for(text), f"pre{i}", "machine", text, 0, 0.3, None, time.time())
            for i, text in enumerate(synthetic(rng, size, "pool"))
        ]
        with store._write():  # one bulk load (the measured part is the step's own path)
            store._executemany(
                "INSERT INTO tasks (task_id, candidate_id, origin, instruction,"
                " bootstrap_round, rouge_l_max, most_similar_task_id, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        finished = [{"task_id": row[0], "instances": []} for row in rows[: int(size * 0.8)]]
        store.complete(finished)
        return max(task["seq"] for task in store.tasks())


def measure(location: str, size: int, candidates: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    last_seq = prefill(location, size, rng)
    run = BootstrapRun(pool_path=location, num_instructions=10**7)
    step = AdmitToPool(name="admit_to_pool", run=run)
    step.load()
    rows = [
        {
            "instruction": text,
            "candidate_id": f"new{i}",
            "rouge_l_max": 0.3,
            "most_similar_task_id": None,
            "rouge_l_pool_seq": last_seq,
            "bootstrap_round": 1,
        }
        for i, text in enumerate(synthetic(rng, candidates, "candidate"))
    ]
    # Warm the step's incremental index of the pool (a running step has it already).
    step._rescored(dict(rows[0]), last_seq)
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(rows), 8):  # the pipeline's streamed batches of 8
        next(step.process(rows[start : start + 8]))
    wall, cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu
    with open_pool_store(location) as store:
        admitted = store.count("machine") - size
    step.unload()
    return {"per_s": candidates / wall, "cpu_per_s": candidates / cpu, "admitted": admitted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("| backend | pool | candidates/s (wall) | candidates/s (CPU of the step) | admitted |")
    print("|---|---:|---:|---:|---:|")
    server = None
    if "postgres" in args.backends:
        from tests.postgres_server import PASSWORD, PostgresServer

        os.environ["PGPASSWORD"] = PASSWORD
        server = PostgresServer().__enter__()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for backend in args.backends:
                for size in args.sizes:
                    if backend == "sqlite":
                        location = str(Path(scratch) / f"pool-{size}.sqlite")
                    else:
                        assert server is not None
                        location = server.new_database()
                    result = measure(location, size, args.candidates, args.seed)
                    print(
                        f"| {backend} | {size:,} | {result['per_s']:,.0f} |"
                        f" {result['cpu_per_s']:,.0f} | {result['admitted']:,} |",
                        flush=True,
                    )
    finally:
        if server is not None:
            server.__exit__()


if __name__ == "__main__":
    main()
