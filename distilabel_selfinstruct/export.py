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

from distilabel_selfinstruct.files import atomic_write_text, remove_temporaries_of, write_beside
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
# Only runs with the judge, the semantic filter or topics have these.
OPTIONAL_KEYS = (
    "judgements",
    "judge_model",
    "semantic_max",
    "semantic_most_similar_task_id",
    "topic",
)


def official_record(task: dict[str, Any]) -> dict[str, Any]:
    """A finished task in the official format (`id`, `name`, `instruction`, `instances`,
    `is_classification`), followed by the run's provenance keys (and the judge's
    `judgements` and `judge_model` when it ran)."""
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
    # Only runs with those options have them; other runs' files stay as they were.
    record.update({key: task[key] for key in OPTIONAL_KEYS if task.get(key) is not None})
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


def official_jsonl_text(tasks: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(official_record(task), ensure_ascii=False) + "\n" for task in tasks)


def alpaca_json_text(tasks: Iterable[dict[str, Any]]) -> str:
    return json.dumps(alpaca_records(tasks), ensure_ascii=False, indent=2) + "\n"


def write_official_jsonl(tasks: Iterable[dict[str, Any]], path: str | Path) -> int:
    # Written whole or not at all: a run killed mid-export keeps the previous file.
    tasks = list(tasks)
    atomic_write_text(Path(path), official_jsonl_text(tasks))
    return len(tasks)


def write_alpaca_json(tasks: Iterable[dict[str, Any]], path: str | Path) -> int:
    tasks = list(tasks)
    atomic_write_text(Path(path), alpaca_json_text(tasks))
    return len(alpaca_records(tasks))


def _save_distiset(tasks: list[dict[str, Any]], path: Path) -> None:
    from datasets import Dataset, DatasetDict, disable_progress_bars
    from distilabel.distiset import Distiset

    disable_progress_bars()  # its bars would land in the middle of the run's ending
    Distiset({"default": DatasetDict({"train": Dataset.from_list(tasks)})}).save_to_disk(str(path))


def _swap_in(fresh: Path, path: Path) -> None:
    """Renames the directory `fresh` to `path`, the old `path` set aside and deleted only
    once the new one is in place."""
    old = path.with_name(f".{path.name}.old-{os.getpid()}-{time.time_ns()}")
    if path.exists():
        os.replace(path, old)
    os.replace(fresh, path)
    shutil.rmtree(old, ignore_errors=True)


def _recover_leftovers(path: Path) -> None:
    """Puts back the old copy of directory `path` when a kill between `_swap_in`'s two
    renames left none in place, then deletes what killed writes left beside it (staged
    directories and files)."""
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    if not path.exists() and olds:
        os.replace(olds.pop(), path)
    for leftover in [*olds, *path.parent.glob(f".{path.name}.new-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _stage_distiset(tasks: list[dict[str, Any]], path: Path) -> Path:
    """The Distiset of `tasks` saved in a new directory beside `path`."""
    fresh = path.with_name(f".{path.name}.new-{os.getpid()}-{time.time_ns()}")
    try:
        _save_distiset(tasks, fresh)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return fresh


def write_distiset(tasks: list[dict[str, Any]], path: str | Path) -> None:
    """Saves the finished tasks as a distilabel `Distiset` (every finished task of the run,
    across resumes; one pipeline invocation's own Distiset holds only what it finished),
    into a directory beside `path` that is then swapped in."""
    path = Path(path)
    _recover_leftovers(path)
    _swap_in(_stage_distiset(tasks, path), path)


class ExportWriteError(OSError):
    """An export file could not be written; none of the exports was replaced."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        self.path = path
        self.reason = error.strerror or str(error)

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


def export_run(pool_path: str | Path, output_dir: str | Path) -> dict[str, Path]:
    """Writes `distiset/`, `alpaca.json` and `self_instruct.jsonl` for the run's finished
    tasks: all three in full beside their targets first, then renamed into place (the JSONL
    last: its task count is what the next export compares with). A failure while writing
    them replaces none of them; a kill during the renames leaves each file old or new
    (a kill between the Distiset's two renames is undone by the next export).

    A run that finished nothing gets empty JSONL and JSON files and no Distiset (a
    `Dataset` needs at least one row to have columns).

    Raises:
        ExportRefusedError: the pool has fewer finished tasks than `self_instruct.jsonl`.
        ExportWriteError: a file could not be written (a full disk, a directory in the way).
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
    _recover_leftovers(paths["distiset"])
    on_disk = exported_task_count(paths["official"]) if paths["official"].is_file() else 0
    if len(tasks) < on_disk:
        raise ExportRefusedError(
            f"{paths['official']} holds {on_disk} tasks but the pool only {len(tasks)}:"
            " not replaced (the exports on disk are the last good copy)"
        )
    for key in ("official", "alpaca"):
        if paths[key].is_dir():
            raise ExportWriteError(paths[key], IsADirectoryError(21, "is a directory"))
    if paths["distiset"].exists() and not paths["distiset"].is_dir():
        raise ExportWriteError(paths["distiset"], NotADirectoryError(20, "is not a directory"))
    for key in ("official", "alpaca"):  # files staged by exports that were killed
        remove_temporaries_of(paths[key])
    staged: dict[str, Path] = {}
    try:
        for key, text in (
            ("official", official_jsonl_text(tasks)),
            ("alpaca", alpaca_json_text(tasks)),
        ):
            try:
                staged[key] = write_beside(paths[key], text)
            except OSError as error:
                raise ExportWriteError(paths[key], error) from None
        if tasks:
            try:
                staged["distiset"] = _stage_distiset(tasks, paths["distiset"])
            except OSError as error:
                raise ExportWriteError(paths["distiset"], error) from None
            _swap_in(staged.pop("distiset"), paths["distiset"])
        os.replace(staged.pop("alpaca"), paths["alpaca"])
        os.replace(staged.pop("official"), paths["official"])
    finally:
        for leftover in staged.values():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
    return paths
