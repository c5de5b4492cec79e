"""Seed tasks in the official Self-Instruct JSONL format.

One task per line: `{"id", "name", "instruction", "instances": [{"input", "output"}],
"is_classification"}`. The loader accepts the paper's `seed_tasks.jsonl` as it is and reports
a malformed file with its path, line number and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

PathLike = Union[str, Path]

REQUIRED_KEYS: dict[str, type] = {
    "instruction": str,
    "instances": list,
    "is_classification": bool,
}


class SeedFileError(ValueError):
    """A seed file that can't be read, with the place that is wrong."""

    def __init__(self, path: PathLike, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, int | None, str]]:
        # A step's load error crosses processes pickled; the default reduce calls
        # `__init__` with the message alone, which kills multiprocessing's result thread
        # and leaves the pipeline waiting forever.
        return (type(self), (self.path, self.line, self.problem))


@dataclass(frozen=True)
class Instance:
    input: str
    output: str

    def to_dict(self) -> dict[str, str]:
        return {"input": self.input, "output": self.output}


@dataclass(frozen=True)
class SeedTask:
    id: str
    name: str
    instruction: str
    instances: tuple[Instance, ...] = field(default_factory=tuple)
    is_classification: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "instruction": self.instruction,
            "instances": [instance.to_dict() for instance in self.instances],
            "is_classification": self.is_classification,
        }


# The name that stands for the seed set shipped inside the package (in YAML, on the CLI).
BUNDLED_SEEDS = "bundled"


def bundled_seed_path() -> Path:
    """The package's own seed set (`distilabel_selfinstruct/data/seed_tasks.jsonl`), shipped
    in the wheel; pipelines refer to it by the name `bundled`, never by this path."""
    return Path(str(files("distilabel_selfinstruct").joinpath("data", "seed_tasks.jsonl")))


def seed_paths(spec: Union[None, str, Sequence[str]]) -> list[str]:
    """The seed files named by a step's `seeds_path`: a list of paths as the user gave them
    (or the older comma-separated string), where `bundled` (or nothing) stands for the
    package's own seed set."""
    items = [spec] if isinstance(spec, str) else list(spec or [])
    parts = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if not parts:
        parts = [BUNDLED_SEEDS]
    return [str(bundled_seed_path()) if part == BUNDLED_SEEDS else part for part in parts]


def _parse_task(obj: Any, path: PathLike, line: int) -> SeedTask:
    if not isinstance(obj, dict):
        raise SeedFileError(path, line, f"expected a JSON object, got {type(obj).__name__}")
    for key, expected in REQUIRED_KEYS.items():
        if key not in obj:
            raise SeedFileError(path, line, f"missing key '{key}'")
        if not isinstance(obj[key], expected):
            raise SeedFileError(
                path,
                line,
                f"'{key}' must be {expected.__name__}, got {type(obj[key]).__name__}",
            )
    if not obj["instruction"].strip():
        raise SeedFileError(path, line, "'instruction' is empty")
    instances = []
    for position, raw in enumerate(obj["instances"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("output"), str):
            raise SeedFileError(
                path, line, f"instance {position} needs a string 'output' (and optional 'input')"
            )
        raw_input = raw.get("input", "")
        if not isinstance(raw_input, str):
            raise SeedFileError(path, line, f"instance {position}: 'input' must be a string")
        instances.append(Instance(input=raw_input, output=raw["output"]))
    task_id = obj.get("id", f"seed_task_{line - 1}")
    return SeedTask(
        id=str(task_id),
        name=str(obj.get("name", task_id)),
        instruction=obj["instruction"],
        instances=tuple(instances),
        is_classification=obj["is_classification"],
    )


def load_seed_tasks(
    paths: PathLike | Iterable[PathLike], *, max_line_bytes: Optional[int] = None
) -> list[SeedTask]:
    """Reads one or more seed files; ids must be unique across them.

    Args:
        paths: the seed files.
        max_line_bytes: refuse a line longer than this (UTF-8 bytes); `None`: no limit.

    Raises:
        SeedFileError: naming the file and line of the first problem found.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    tasks: list[SeedTask] = []
    seen: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SeedFileError(path, None, "file not found") from None
        except IsADirectoryError:
            raise SeedFileError(path, None, "is a directory, not a seed file") from None
        except UnicodeDecodeError as error:
            raise SeedFileError(path, None, f"not UTF-8 text ({error.reason})") from None
        except OSError as error:
            raise SeedFileError(path, None, f"cannot be read ({error.strerror})") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if max_line_bytes is not None and len(line.encode("utf-8")) > max_line_bytes:
                raise SeedFileError(
                    path,
                    number,
                    f"{len(line.encode('utf-8'))} bytes, over the limit of {max_line_bytes}"
                    " per seed task (--max-seed-line-bytes raises it)",
                )
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise SeedFileError(path, number, f"invalid JSON ({error.msg})") from None
            task = _parse_task(obj, path, number)
            if task.id in seen:
                raise SeedFileError(
                    path, number, f"duplicate id '{task.id}' (first in {seen[task.id]})"
                )
            seen[task.id] = f"{path}:{number}"
            tasks.append(task)
    if not tasks:
        raise SeedFileError(paths[-1] if paths else "<none>", None, "no seed tasks found")
    return tasks
