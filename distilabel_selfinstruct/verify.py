"""`selfinstruct verify`: is a run directory sound, and do its exports match its pool?

Checks, each reported as one line naming the file and the problem:

- the pool store opens, holds the pool's tables and passes SQLite's `quick_check`;
- finished tasks: each is an accepted machine task, none was also dropped after acceptance,
  no two share an instruction, and there are no more than the run's target;
- accounting: accepted = finished + lost + in flight (none of them negative);
- `self_instruct.jsonl`: readable, no duplicate ids, exactly the pool's finished tasks in
  pool order; `alpaca.json`: one entry per instance of those tasks; `distiset/`: one row
  per task;
- `summary.json`: its counts are the pool's (what `RunSummary.from_store` computes now) and
  add up.

A run that was interrupted before it rewrote its exports fails the export checks (they are
behind the pool); rerunning the command, or `selfinstruct export`, brings them up to date.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from distilabel_selfinstruct.bootstrap.run import RUN_TARGET
from distilabel_selfinstruct.bootstrap.stages import POST_ACCEPT_STAGES
from distilabel_selfinstruct.export import (
    ALPACA_FILENAME,
    DISTISET_DIRNAME,
    OFFICIAL_FILENAME,
)
from distilabel_selfinstruct.pool import PoolDamagedError, normalize_instruction, open_pool_store
from distilabel_selfinstruct.run_directory import pool_location_for
from distilabel_selfinstruct.summary import SUMMARY_FILENAME, RunSummary

# The summary's fields that are counts of the pool (the rest are timings).
_COUNTED = (
    "instructions_generated",
    "instructions_accepted",
    "tasks_finished",
    "tasks_lost",
    "tasks_unfinished",
    "drops",
)


def verify_run(output_dir: str | Path) -> list[str]:
    """The problems found in the run directory `output_dir` (empty: it is sound)."""
    output_dir = Path(output_dir)
    pool = pool_location_for(output_dir)
    try:
        store = open_pool_store(pool, create=False)
    except PoolDamagedError as error:
        return [str(error)]
    with store:
        problems = [f"{pool}: integrity check: {line}" for line in store.integrity_problems()]
        if problems:
            return problems
        finished = store.completed()
        machine = {task["task_id"]: task["candidate_id"] for task in store.tasks(origin="machine")}
        state = store.state()
        target = store.meta(RUN_TARGET)
        post_accept = {str(stage) for stage in POST_ACCEPT_STAGES}
        dropped_late = {
            drop["candidate_id"] for drop in store.drops() if drop["stage"] in post_accept
        }
    problems += _check_pool(pool, finished, machine, dropped_late, state, target)
    problems += _check_exports(output_dir, finished)
    problems += _check_summary(output_dir, pool, finished)
    return problems


def _check_pool(
    pool: str,
    finished: list[dict[str, Any]],
    machine: dict[str, Any],
    dropped_late: set[str],
    state: Any,
    target: Any,
) -> list[str]:
    problems = []
    for task in finished:
        if task["task_id"] not in machine:
            problems.append(f"{pool}: finished task {task['task_id']} is not in the pool")
        elif machine[task["task_id"]] in dropped_late:
            problems.append(f"{pool}: finished task {task['task_id']} was also dropped")
    texts = Counter(normalize_instruction(task["instruction"]) for task in finished)
    for text, count in texts.items():
        if count > 1:
            problems.append(f"{pool}: {count} finished tasks share the instruction {text[:60]!r}")
    if target is not None and len(finished) > int(target):
        problems.append(f"{pool}: {len(finished)} finished tasks, more than the target {target}")
    if state.accepted - state.finished - state.lost < 0:
        problems.append(
            f"{pool}: accounting: {state.accepted} accepted < {state.finished} finished"
            f" + {state.lost} lost"
        )
    return problems


def _check_exports(output_dir: Path, finished: list[dict[str, Any]]) -> list[str]:
    official = output_dir / OFFICIAL_FILENAME
    if not official.exists():
        return (
            [f"{official}: missing (rerun the command or `selfinstruct export`)"]
            if finished
            else []
        )
    problems: list[str] = []
    ids: list[str] = []
    instances = 0
    try:
        with official.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    ids.append(record["id"])
                    instances += len(record["instances"])
                except (ValueError, KeyError, TypeError):
                    return [f"{official}:{number}: not an exported task"]
    except (OSError, UnicodeDecodeError) as error:
        return [f"{official}: unreadable ({error})"]
    duplicates = [task_id for task_id, n in Counter(ids).items() if n > 1]
    if duplicates:
        problems.append(f"{official}: {len(duplicates)} task ids appear twice ({duplicates[0]})")
    expected = [task["task_id"] for task in finished]
    if ids != expected:
        missing = len(set(expected) - set(ids))
        extra = len(set(ids) - set(expected))
        problems.append(
            f"{official}: {len(ids)} tasks, the pool has {len(expected)} finished"
            f" ({missing} missing, {extra} not in the pool); rerun the command or"
            " `selfinstruct export`"
        )
    problems += _check_alpaca(output_dir / ALPACA_FILENAME, instances)
    problems += _check_distiset(output_dir / DISTISET_DIRNAME, len(ids))
    return problems


def _check_alpaca(path: Path, instances: int) -> list[str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{path}: missing"]
    except (OSError, ValueError) as error:
        return [f"{path}: unreadable ({error})"]
    if not isinstance(entries, list) or len(entries) != instances:
        count = len(entries) if isinstance(entries, list) else "no"
        return [f"{path}: {count} entries, {OFFICIAL_FILENAME} has {instances} instances"]
    return []


def _check_distiset(path: Path, tasks: int) -> list[str]:
    if tasks == 0:
        return []  # a run that finished nothing has no Distiset
    if not path.is_dir():
        return [f"{path}: missing"]
    try:
        from datasets import load_from_disk

        rows = load_from_disk(str(path / "default"))["train"].num_rows
    except Exception as error:  # noqa: BLE001 - whatever datasets says, it is unreadable
        return [f"{path}: unreadable ({type(error).__name__}: {error})"]
    if rows != tasks:
        return [f"{path}: {rows} rows, {OFFICIAL_FILENAME} has {tasks} tasks"]
    return []


def _check_summary(output_dir: Path, pool: str, finished: list[dict[str, Any]]) -> list[str]:
    path = output_dir / SUMMARY_FILENAME
    if not path.exists():
        return [f"{path}: missing"] if finished else []
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{path}: unreadable ({error})"]
    if not isinstance(written, dict):
        return [f"{path}: not a run summary (a JSON {type(written).__name__})"]
    problems = []
    now = RunSummary.from_store(pool).to_dict()
    for key in _COUNTED:
        if written.get(key) != now[key]:
            problems.append(f"{path}: {key} is {written.get(key)!r}, the pool says {now[key]!r}")
    accepted = written.get("instructions_accepted")
    parts = [written.get(key) for key in ("tasks_finished", "tasks_lost", "tasks_unfinished")]
    if (
        isinstance(accepted, int)
        and all(isinstance(p, int) for p in parts)
        and sum(parts) != accepted
    ):
        problems.append(
            f"{path}: accounting: {accepted} accepted != {parts[0]} finished + {parts[1]} lost"
            f" + {parts[2]} unfinished"
        )
    return problems
