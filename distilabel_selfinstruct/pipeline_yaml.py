"""Explaining a pipeline YAML that distilabel cannot load, in one line.

distilabel's `Pipeline.from_yaml` reports a YAML without `steps` as `KeyError: 'steps'` and
a truncated one as `'type_info'`. `explain_pipeline_yaml` walks the file as distilabel
reads it and names the first thing wrong: the line of a YAML syntax error, the missing
key and where it is missing, a class that does not import (and from which module), or a
`run` that `BootstrapRun` rejects. `selfinstruct run` and `selfinstruct check` use it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import ValidationError


def _class_problem(type_info: Any, where: str) -> Optional[str]:
    if not isinstance(type_info, dict) or not type_info.get("module") or not type_info.get("name"):
        return f"{where}: `type_info` needs `module` and `name`"
    module, name = type_info["module"], type_info["name"]
    try:
        found = importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - any import failure is the explanation
        return (
            f"{where}: module {module} does not import ({type(error).__name__}: {error});"
            " is the package that provides it installed here?"
        )
    if not hasattr(found, name):
        return f"{where}: {module} has no class {name} (written by another version?)"
    return None


def _step_problem(entry: Any, index: int) -> Optional[str]:
    where = f"pipeline.steps[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("step"), dict):
        return f"{where}: expected a mapping with `name` and `step`"
    step = entry["step"]
    name = entry.get("name") or step.get("name") or "?"
    where = f"{where} ('{name}')"
    if "type_info" not in step:
        return f"{where}: missing `type_info` (the file may be cut short)"
    problem = _class_problem(step["type_info"], where)
    if problem:
        return problem
    llm = step.get("llm")
    if isinstance(llm, dict):
        if "type_info" not in llm:
            return f"{where}.llm: missing `type_info`"
        problem = _class_problem(llm["type_info"], f"{where}.llm")
        if problem:
            return problem
    run = step.get("run")
    if isinstance(run, dict):
        from distilabel_selfinstruct.bootstrap.run import BootstrapRun

        try:
            BootstrapRun(**run)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            return f"{where}.run.{field}: {first['msg']}"
    return None


def explain_pipeline_yaml(path: str | Path) -> Optional[str]:
    """The first reason distilabel cannot load the pipeline YAML at `path` (one line,
    naming the file, key or class), or `None` when it loads and its DAG is valid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: is a directory, not a pipeline YAML"
    except (OSError, UnicodeDecodeError) as error:
        return f"{path}: cannot be read ({error})"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        return f"{path}{line}: not valid YAML ({problem})"
    if not isinstance(data, dict) or not isinstance(data.get("pipeline"), dict):
        return f"{path}: not a distilabel pipeline (no top-level `pipeline` mapping)"
    pipeline = data["pipeline"]
    for key in ("name", "steps", "connections"):
        if key not in pipeline:
            return f"{path}: `pipeline.{key}` is missing (the file may be cut short)"
    if not isinstance(pipeline["steps"], list) or not pipeline["steps"]:
        return f"{path}: `pipeline.steps` is empty"
    for index, entry in enumerate(pipeline["steps"]):
        problem = _step_problem(entry, index)
        if problem:
            return f"{path}: {problem}"
    from distilabel.pipeline import Pipeline

    try:
        # Loading is not enough: a file cut between two connections loads, but its DAG
        # has a step without a predecessor, which `run()` refuses.
        Pipeline.from_yaml(path).dag.validate()
    except Exception as error:  # noqa: BLE001 - whatever distilabel says, it cannot load it
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{path}: distilabel cannot load it ({type(error).__name__}: {message})"
    return None
