"""Random SIGKILL campaign against `selfinstruct generate`, for docs/reliability.md.

Each trial starts a run of `--target` tasks against the tests' own OpenAI-compatible server
(tests/fake_openai.py), SIGKILLs the whole process tree at a random moment of it (a quarter
of the trials a second time, during the rerun), then reruns the same command to the end
and checks the directory: exit 0, exactly the target, `selfinstruct verify` clean, no task
lost or duplicated. One JSON line per trial goes to `--results`; the totals are printed.

Moments: half uniform in time over one uninterrupted run; 40 % just after the k-th task
finished (k random, plus up to 1.5 s); 10 % while the exports are written (the moment the
Distiset's temporary directory appears).

Usage (from the repository root):
    python benchmarks/fault_campaign.py --trials 100 --results /tmp/faults.jsonl

(`--batch-size 2` prompts per round, so a 4-task run has several rounds and waits.)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults import (  # noqa: E402
    check_run,
    fake_server,
    finished_count,
    generate_args,
    kill_tree,
    run,
    start,
)


def calibrate(base_url: str, work: Path, target: int) -> float:
    """Seconds one uninterrupted run takes here."""
    started = time.monotonic()
    result = run(generate_args(base_url, work / "calibration", target), work)
    assert result.returncode == 0, result.stderr
    shutil.rmtree(work / "calibration")
    return time.monotonic() - started


def kill_at(
    base_url: str, work: Path, output: Path, target: int, rng: random.Random, full: float
) -> dict:
    """Runs the command and SIGKILLs its tree at a moment drawn as the module says."""
    draw = rng.random()
    if draw < 0.5:
        kind, at_s, after_finished = "time", rng.uniform(0.2, full * 1.05), None
    elif draw < 0.9:
        kind, at_s, after_finished = "after_finish", rng.uniform(0, 1.5), rng.randint(1, target)
    else:
        kind, at_s, after_finished = "export", 0.0, None
    process = start(generate_args(base_url, output, target), work)
    started = time.monotonic()
    deadline = started + at_s if kind == "time" else None
    while process.poll() is None:
        now = time.monotonic()
        if deadline is None and kind == "after_finish":
            if (finished_count(output) or 0) >= after_finished:
                deadline = now + at_s
        elif deadline is None and kind == "export":
            if any(output.glob(".distiset.new-*")):
                deadline = now
        if deadline is not None and now >= deadline:
            break
        time.sleep(0.01 if kind == "export" else 0.05)
    ended_first = process.poll() is not None
    if not ended_first:
        kill_tree(process)
    else:
        process.communicate()
    return {
        "kind": kind,
        "after_finished": after_finished,
        "at_s": round(time.monotonic() - started, 2),
        "ended_before_kill": ended_first,
        "finished_at_kill": finished_count(output),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--target", type=int, default=4)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--double-share", type=float, default=0.25)
    parser.add_argument("--results", default="fault_campaign.jsonl")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fault-campaign-"))
    results = Path(args.results)
    outcomes: Counter[str] = Counter()
    with fake_server("ok", delay_s=0.02) as base_url, results.open("w") as out:
        full = calibrate(base_url, work, args.target)
        print(f"one uninterrupted run: {full:.1f} s", flush=True)
        for trial in range(args.trials):
            output = work / f"trial-{trial}"
            kills = [kill_at(base_url, work, output, args.target, rng, full)]
            if rng.random() < args.double_share:
                kills.append(kill_at(base_url, work, output, args.target, rng, full))
            final = run(generate_args(base_url, output, args.target), work)
            outcome = check_run(output, args.target, final)
            kind = (
                "recovered"
                if outcome.recovered
                else ("rerun_failed" if outcome.returncode != 0 else "inconsistent")
            )
            outcomes[kind] += 1
            record = {
                "trial": trial,
                "kills": kills,
                "outcome": kind,
                "returncode": outcome.returncode,
                "finished": outcome.finished,
                "problems": outcome.problems,
                "stderr": outcome.stderr_tail,
            }
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(f"trial {trial}: {kind} {kills}", flush=True)
            if outcome.recovered:
                shutil.rmtree(output, ignore_errors=True)
    print(
        json.dumps(
            {
                "trials": args.trials,
                "target": args.target,
                "full_run_s": round(full, 1),
                "outcomes": dict(outcomes),
            }
        )
    )
    return 0 if outcomes["recovered"] == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
