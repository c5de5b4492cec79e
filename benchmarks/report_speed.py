"""How long `selfinstruct report` takes on a large run: a synthetic pool of N finished tasks.

Instructions are built from the bundled seeds' words (seeded), so ROUGE-L and the verb rules
see realistic text; each task has 1–3 instances and a fifth are classification tasks.

    python -m benchmarks.report_speed [--tasks 10000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.report import write_report
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks


def make_pool(run_dir: Path, tasks: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    seeds = load_seed_tasks(str(bundled_seed_path()))
    vocabulary = [word for s in seeds for word in s.instruction.split()]
    with open_pool_store(pool_path_for(run_dir)) as store:
        store.add_seeds(seeds)
        records = []
        for i in range(tasks):
            verb = rng.choice(seeds).instruction.split()[0]
            text = " ".join([verb, *rng.sample(vocabulary, rng.randint(5, 20))]) + f" ({i})"
            task_id = store.accept(
                candidate_id=f"c{i}",
                instruction=text,
                bootstrap_round=i // 50,
                rouge_l_max=rng.random() * 0.7,
                most_similar_task_id=None,
            )
            is_classification = rng.random() < 0.2
            records.append(
                {
                    "task_id": task_id,
                    "instruction": text,
                    "is_classification": is_classification,
                    "labels": ["Yes", "No"] if is_classification else [],
                    "instances": [
                        {
                            "input": " ".join(rng.sample(vocabulary, rng.randint(0, 12))),
                            "output": rng.choice(["Yes", "No"])
                            if is_classification
                            else " ".join(rng.sample(vocabulary, rng.randint(3, 30))),
                        }
                        for _ in range(rng.randint(1, 3))
                    ],
                    "bootstrap_round": i // 50,
                }
            )
        store.complete(records)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        make_pool(run_dir, args.tasks)
        started = time.perf_counter()
        write_report(run_dir)
        print(f"{args.tasks} tasks: report in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
