"""Writing a run's finished tasks: official Self-Instruct JSONL, Alpaca JSON, a Distiset.

Exports read the pool store, which holds every finished task exactly once however often the
run was interrupted and resumed. Each file is written whole beside its target and renamed
into place, so a kill mid-export leaves the previous file. An export never replaces a file
with fewer tasks than it holds (`ExportRefusedError`): a pool that lost tasks leaves the
exports on disk as the last good copy.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

from distilabel_selfinstruct.files import atomic_write_text
from distilabel_selfinstruct.pool import open_pool_store

OFFICIAL_FILENAME = "self_instruct.jsonl"
ALPACA_FILENAME = "alpaca.json"
DISTISET_DIRNAME = "distiset"


class ExportRefusedError(Exception):
    """An export would replace a file with fewer tasks; the message is one line."""


def exported_task_count(path: str | Path) -> int:
    """Tasks in an official JSONL export (its non-empty lines); 0 when there is none."""
    try:
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except FileNotFoundError:
        return 0


EXTRA_KEYS = (
    "classification_score",
    "labels",
    "rouge_l_max",
    "most_similar_task_id",
    "most_similar_instruction",
    "bootstrap_round",
    "model_name",
)


def official_record(task: dict[str, Any]) -> dict[str, Any]:
    """A finished task in the official format (`id`, `name`, `instruction`, `instances`,
    `is_classification`), followed by the run's provenance keys."""
    record = {
        "id": task["task_id"],
        "name": task["task_id"],
        "instruction": task["instruction"],
        "instances": [
            {"input": i.get("input") or "", "output": i.get("output") or ""}
            for i in task.get("instances") or []
        ],
        "is_classification": bool(task.get("is_classification")),
    }
    record.update({key: task.get(key) for key in EXTRA_KEYS})
    return record


def alpaca_records(tasks: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """One `{instruction, input, output}` entry per instance."""
    return [
        {
            "instruction": task["instruction"],
            "input": instance.get("input") or "",
            "output": instance.get("output") or "",
        }
        for task in tasks
        for instance in task.get("instances") or []
    ]


def write_official_jsonl(tasks: Iterable[dict[str, Any]], path: str | Path) -> int:
    # Written whole or not at all: a run killed mid-export keeps the previous file.
    lines = [json.dumps(official_record(task), ensure_ascii=False) + "\n" for task in tasks]
    atomic_write_text(Path(path), "".join(lines))
    return len(lines)


def write_alpaca_json(tasks: Iterable[dict[str, Any]], path: str | Path) -> int:
    records = alpaca_records(tasks)
    atomic_write_text(Path(path), json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    return len(records)


def write_distiset(tasks: list[dict[str, Any]], path: str | Path) -> None:
    """Saves the finished tasks as a distilabel `Distiset` (every finished task of the run,
    across resumes; one pipeline invocation's own Distiset holds only what it finished).

    Saved into a directory beside `path`, then swapped in; a kill between the two renames
    leaves no `path` (and the old copy beside it), never a half-written one.
    """
    from datasets import Dataset, DatasetDict, disable_progress_bars
    from distilabel.distiset import Distiset

    path = Path(path)
    for leftover in path.parent.glob(f".{path.name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    disable_progress_bars()  # its bars would land in the middle of the run's ending
    distiset = Distiset({"default": DatasetDict({"train": Dataset.from_list(tasks)})})
    stamp = f"{os.getpid()}-{time.time_ns()}"
    fresh, old = (
        path.with_name(f".{path.name}.new-{stamp}"),
        path.with_name(f".{path.name}.old-{stamp}"),
    )
    try:
        distiset.save_to_disk(str(fresh))
        if path.exists():
            os.replace(path, old)
        os.replace(fresh, path)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def export_run(pool_path: str | Path, output_dir: str | Path) -> dict[str, Path]:
    """Writes `distiset/`, `alpaca.json` and `self_instruct.jsonl` (last: its task count is
    what the next export compares with) for the run's finished tasks.

    A run that finished nothing gets empty JSONL and JSON files and no Distiset (a
    `Dataset` needs at least one row to have columns).

    Raises:
        ExportRefusedError: the pool has fewer finished tasks than `self_instruct.jsonl`.
        PoolDamagedError: the pool store is missing or unreadable.
    """
    with open_pool_store(pool_path, create=False) as store:
        tasks = store.completed()
    output_dir = Path(output_dir)
    paths = {
        "official": output_dir / OFFICIAL_FILENAME,
        "alpaca": output_dir / ALPACA_FILENAME,
        "distiset": output_dir / DISTISET_DIRNAME,
    }
    on_disk = exported_task_count(paths["official"])
    if len(tasks) < on_disk:
        raise ExportRefusedError(
            f"{paths['official']} holds {on_disk} tasks but the pool only {len(tasks)}:"
            " not replaced (the exports on disk are the last good copy)"
        )
    if tasks:
        write_distiset(tasks, paths["distiset"])
    write_alpaca_json(tasks, paths["alpaca"])
    write_official_jsonl(tasks, paths["official"])
    return paths
