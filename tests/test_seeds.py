"""Seed loading: the bundled set, the paper's file as-is, and precise errors for bad files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from distilabel_selfinstruct.seeds import (
    Instance,
    SeedFileError,
    SeedTask,
    bundled_seed_path,
    load_seed_tasks,
    seed_paths,
)


def task_line(task_id: str, **overrides: object) -> str:
    task = {
        "id": task_id,
        "name": task_id,
        "instruction": f"Instruction of {task_id}.",
        "instances": [{"input": "", "output": "An answer."}],
        "is_classification": False,
    }
    task.update(overrides)
    return json.dumps(task, ensure_ascii=False)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_for(paths: object) -> SeedFileError:
    with pytest.raises(SeedFileError) as info:
        load_seed_tasks(paths)  # type: ignore[arg-type]
    return info.value


def test_bundled_seeds_load() -> None:
    tasks = load_seed_tasks(bundled_seed_path())
    assert len(tasks) >= 100
    assert len({task.id for task in tasks}) == len(tasks)
    share = sum(task.is_classification for task in tasks) / len(tasks)
    assert 0.10 <= share <= 0.20, share
    assert all(task.instruction.strip() and task.instances for task in tasks)


def test_the_bundled_set_lives_inside_the_package_and_is_named_not_pathed() -> None:
    import distilabel_selfinstruct

    package_dir = Path(distilabel_selfinstruct.__file__).parent
    assert bundled_seed_path().parent == package_dir / "data"
    assert seed_paths(None) == seed_paths("") == seed_paths("bundled") == [str(bundled_seed_path())]
    # User files stay as the user gave them (relative paths relative).
    assert seed_paths("bundled, mine.jsonl") == [str(bundled_seed_path()), "mine.jsonl"]


def test_errors_survive_pickling_across_step_processes() -> None:
    # distilabel sends a step's load error to the main process pickled; an exception that
    # does not unpickle kills multiprocessing's result thread and the run hangs.
    error = SeedFileError("seeds.jsonl", 12, "missing key 'instruction'")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.problem, str(copy)) == (
        "seeds.jsonl",
        12,
        "missing key 'instruction'",
        "seeds.jsonl:12: missing key 'instruction'",
    )


def test_paper_seed_file_loads_as_is(paper_seeds: Path) -> None:
    tasks = load_seed_tasks(paper_seeds)
    assert len(tasks) == 175
    assert tasks[0].id == "seed_task_0"
    assert any(task.is_classification for task in tasks)
    # Round trip: every task serializes back to the line it came from.
    lines = [line for line in paper_seeds.read_text("utf-8").splitlines() if line.strip()]
    assert [task.to_dict() for task in tasks] == [json.loads(line) for line in lines]


def test_task_fields_and_defaults(tmp_path: Path) -> None:
    minimal = {
        "instruction": "Name a color.",
        "instances": [{"output": "Blue"}],
        "is_classification": False,
    }
    path = write(
        tmp_path / "seeds.jsonl", [task_line("a", is_classification=True), json.dumps(minimal)]
    )
    first, second = load_seed_tasks(path)
    assert first == SeedTask(
        id="a",
        name="a",
        instruction="Instruction of a.",
        instances=(Instance(input="", output="An answer."),),
        is_classification=True,
    )
    # Without an id the task is named after its line, as in the paper's numbering.
    assert second.id == "seed_task_1" and second.name == "seed_task_1"
    assert second.instances == (Instance(input="", output="Blue"),)


def test_several_files_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", ["", task_line("a"), "   ", "", task_line("b")])
    two = write(tmp_path / "two.jsonl", [task_line("c")])
    assert [task.id for task in load_seed_tasks([one, two])] == ["a", "b", "c"]
    assert [task.id for task in load_seed_tasks(str(one))] == ["a", "b"]


def test_invalid_json_reports_line_3(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [task_line("a"), task_line("b"), '{"id": "c", "instr'])
    error = error_for(path)
    assert str(path) in str(error)
    assert error.line == 3
    assert f"{path}:3:" in str(error)
    assert "invalid JSON" in str(error)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [task_line("a"), "", "", "not json"])
    error = error_for(path)
    assert error.line == 4 and f"{path}:4:" in str(error)


def test_missing_instruction(tmp_path: Path) -> None:
    broken = json.loads(task_line("b"))
    del broken["instruction"]
    path = write(tmp_path / "bad.jsonl", [task_line("a"), json.dumps(broken)])
    error = error_for(path)
    assert f"{path}:2:" in str(error)
    assert "missing key 'instruction'" in str(error)


def test_wrong_type_of_is_classification(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [task_line("a", is_classification="yes")])
    error = error_for(path)
    assert f"{path}:1:" in str(error)
    assert "'is_classification' must be bool, got str" in str(error)


def test_instance_without_output(tmp_path: Path) -> None:
    instances = [{"input": "x", "output": "y"}, {"input": "only an input"}]
    path = write(tmp_path / "bad.jsonl", [task_line("a"), task_line("b", instances=instances)])
    error = error_for(path)
    assert f"{path}:2:" in str(error)
    assert "instance 1" in str(error) and "'output'" in str(error)


def test_empty_instruction(tmp_path: Path) -> None:
    error = error_for(write(tmp_path / "bad.jsonl", [task_line("a", instruction="   ")]))
    assert error.line == 1 and "'instruction' is empty" in str(error)


def test_non_object_line(tmp_path: Path) -> None:
    error = error_for(write(tmp_path / "bad.jsonl", ["[1, 2]"]))
    assert error.line == 1 and "expected a JSON object, got list" in str(error)


def test_duplicate_id_across_two_files(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", [task_line("a"), task_line("shared")])
    two = write(tmp_path / "two.jsonl", [task_line("b"), task_line("c"), task_line("shared")])
    error = error_for([one, two])
    # The error is at the second occurrence and names the first.
    assert f"{two}:3:" in str(error)
    assert "duplicate id 'shared'" in str(error)
    assert f"{one}:2" in str(error)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    error = error_for(path)
    assert error.line is None
    assert str(path) in str(error) and "no seed tasks found" in str(error)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(task_line("a", instruction="Café crème.").encode("latin-1"))
    error = error_for(path)
    assert str(path) in str(error) and "not UTF-8" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.jsonl"
    error = error_for(path)
    assert str(error) == f"{path}: file not found"
    assert isinstance(error, ValueError)


def test_a_seed_line_over_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    task = {"instruction": "x" * 500, "instances": [{"output": "y"}], "is_classification": False}
    path.write_text(json.dumps({**task, "id": "a"}) + "\n" + json.dumps({**task, "id": "b"}))
    assert len(load_seed_tasks(path)) == 2  # no limit unless asked
    with pytest.raises(SeedFileError, match=r"seeds.jsonl:1: 5\d\d bytes, over the limit of 100"):
        load_seed_tasks(path, max_line_bytes=100)


def test_a_directory_is_not_a_seed_file(tmp_path: Path) -> None:
    with pytest.raises(SeedFileError, match="is a directory, not a seed file"):
        load_seed_tasks(tmp_path)
