"""Writing a run's finished tasks: official Self-Instruct JSONL and Alpaca JSON.

Exports read the pool store, which holds every finished task exactly once however often the
run was interrupted and resumed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from distilabel_selfinstruct.files import atomic_write_text
from distilabel_selfinstruct.pool import open_pool_store

OFFICIAL_FILENAME = "self_instruct.jsonl"
ALPACA_FILENAME = "alpaca.json"
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
    across resumes; one pipeline invocation's own Distiset holds only what it finished)."""
    from datasets import Dataset, DatasetDict, disable_progress_bars
    from distilabel.distiset import Distiset

    disable_progress_bars()  # its bars would land in the middle of the run's ending
    distiset = Distiset({"default": DatasetDict({"train": Dataset.from_list(tasks)})})
    distiset.save_to_disk(str(path))


def export_run(pool_path: str | Path, output_dir: str | Path) -> dict[str, Path]:
    """Writes `self_instruct.jsonl` and `alpaca.json` for the run's finished tasks."""
    with open_pool_store(pool_path) as store:
        tasks = store.completed()
    output_dir = Path(output_dir)
    paths = {"official": output_dir / OFFICIAL_FILENAME, "alpaca": output_dir / ALPACA_FILENAME}
    write_official_jsonl(tasks, paths["official"])
    write_alpaca_json(tasks, paths["alpaca"])
    return paths
