"""`verify_run`: a run directory written as the CLI writes it verifies clean; each damage to
its pool, exports or summary is reported in one line naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from distilabel_selfinstruct.bootstrap.run import RUN_TARGET, BootstrapRun
from distilabel_selfinstruct.bootstrap.stages import POST_ACCEPT_STAGES, Reason, Stage
from distilabel_selfinstruct.export import ALPACA_FILENAME, DISTISET_DIRNAME, OFFICIAL_FILENAME
from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import PoolStore, open_pool_store
from distilabel_selfinstruct.run_directory import RunDirectory
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths
from distilabel_selfinstruct.summary import SUMMARY_FILENAME
from distilabel_selfinstruct.verify import verify_run

pytestmark = pytest.mark.usefixtures("isolated_env")

FINISHED = 3
INSTANCES_PER_TASK = 2


def finish_task(store: PoolStore, number: int) -> tuple[str, str]:
    """Accepts and completes machine task `number`; returns its (task id, candidate id)."""
    candidate_id = f"candidate_{number}"
    instruction = f"Write a limerick about topic number {number}."
    task_id = store.accept(
        candidate_id=candidate_id,
        instruction=instruction,
        bootstrap_round=0,
        rouge_l_max=0.1,
        most_similar_task_id=None,
    )
    assert task_id is not None
    record = {
        "task_id": task_id,
        "instruction": instruction,
        "instances": [
            {"input": "", "output": f"A limerick number {number}."},
            {"input": f"topic {number}", "output": f"Another limerick {number}."},
        ],
        "is_classification": False,
    }
    assert store.complete([record]) == 1
    return task_id, candidate_id


def write_run(output: Path, finished: int) -> list[tuple[str, str]]:
    """A run directory as `selfinstruct` leaves it: pool (seeds + `finished` tasks),
    exports and summary."""
    pool = pool_path_for(output)
    with open_pool_store(pool) as store:
        store.add_seeds(load_seed_tasks(seed_paths(None)))
        ids = [finish_task(store, number) for number in range(finished)]
    _write_outputs(pool, output, finished or 1, 1.0)
    return ids


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def ids(output: Path) -> list[tuple[str, str]]:
    return write_run(output, FINISHED)


def official_lines(output: Path) -> list[str]:
    return (output / OFFICIAL_FILENAME).read_text(encoding="utf-8").splitlines(keepends=True)


def write_official(output: Path, lines: list[str]) -> None:
    (output / OFFICIAL_FILENAME).write_text("".join(lines), encoding="utf-8")


def edit_summary(output: Path, **changes: Any) -> None:
    path = output / SUMMARY_FILENAME
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary.update(changes)
    path.write_text(json.dumps(summary), encoding="utf-8")


def test_a_run_written_as_the_cli_writes_it_is_sound(
    output: Path, ids: list[tuple[str, str]]
) -> None:
    assert sorted(path.name for path in output.iterdir()) == sorted(
        [OFFICIAL_FILENAME, ALPACA_FILENAME, DISTISET_DIRNAME, SUMMARY_FILENAME, "pool.sqlite"]
    )
    assert verify_run(output) == []
    assert verify_run(str(output)) == []


def test_a_run_that_finished_nothing_is_sound(output: Path) -> None:
    write_run(output, 0)
    assert not (output / DISTISET_DIRNAME).exists()
    assert (output / OFFICIAL_FILENAME).read_text(encoding="utf-8") == ""
    assert verify_run(output) == []


def test_a_missing_pool(output: Path, ids: list[tuple[str, str]]) -> None:
    pool = pool_path_for(output)
    pool.unlink()
    assert verify_run(output) == [f"{pool}: no such file"]
    assert not pool.exists()  # verify never creates a pool


def test_an_empty_pool_file(output: Path, ids: list[tuple[str, str]]) -> None:
    pool = pool_path_for(output)
    for leftover in output.glob("pool.sqlite-*"):
        leftover.unlink()
    pool.write_bytes(b"")
    assert verify_run(output) == [f"{pool}: the pool store is empty (0 bytes)"]


def test_a_garbage_pool_file(output: Path, ids: list[tuple[str, str]]) -> None:
    pool = pool_path_for(output)
    for leftover in output.glob("pool.sqlite-*"):
        leftover.unlink()
    pool.write_bytes(b"this is not a database\n" * 200)
    problems = verify_run(output)
    assert len(problems) == 1
    assert problems[0].startswith(f"{pool}: damaged (")


def test_a_sqlite_file_that_is_not_a_pool(output: Path, ids: list[tuple[str, str]]) -> None:
    import sqlite3

    pool = pool_path_for(output)
    for path in output.glob("pool.sqlite*"):
        path.unlink()
    with sqlite3.connect(pool) as connection:
        connection.execute("CREATE TABLE other (x INTEGER)")
    connection.close()
    assert verify_run(output) == [
        f"{pool}: not a task pool (no table completed, counters, drops, meta, tasks)"
    ]


def test_a_task_missing_from_the_official_jsonl(output: Path, ids: list[tuple[str, str]]) -> None:
    lines = official_lines(output)
    write_official(output, lines[:1] + lines[2:])
    official, alpaca = output / OFFICIAL_FILENAME, output / ALPACA_FILENAME
    problems = verify_run(output)
    assert (
        f"{official}: 2 tasks, the pool has 3 finished (1 missing, 0 not in the pool);"
        " rerun the command or `selfinstruct export`"
    ) in problems
    assert f"{alpaca}: 6 entries, {OFFICIAL_FILENAME} has 4 instances" in problems
    assert f"{output / DISTISET_DIRNAME}: 3 rows, {OFFICIAL_FILENAME} has 2 tasks" in problems


def test_the_official_jsonl_missing_or_unreadable(output: Path, ids: list[tuple[str, str]]) -> None:
    official = output / OFFICIAL_FILENAME
    official.write_bytes(b"\xff\xfe not utf-8\n")
    problems = verify_run(output)
    assert len(problems) == 1 and problems[0].startswith(f"{official}: unreadable (")
    official.unlink()
    assert verify_run(output) == [
        f"{official}: missing (rerun the command or `selfinstruct export`)"
    ]


def test_a_task_twice_in_the_official_jsonl(output: Path, ids: list[tuple[str, str]]) -> None:
    lines = official_lines(output)
    write_official(output, lines + lines[1:2])
    official = output / OFFICIAL_FILENAME
    problems = verify_run(output)
    assert f"{official}: 1 task ids appear twice ({ids[1][0]})" in problems
    assert (
        f"{official}: 4 tasks, the pool has 3 finished (0 missing, 0 not in the pool);"
        " rerun the command or `selfinstruct export`"
    ) in problems


def test_a_task_the_pool_does_not_have_in_the_official_jsonl(
    output: Path, ids: list[tuple[str, str]]
) -> None:
    lines = official_lines(output)
    extra = json.loads(lines[0])
    extra["id"] = extra["name"] = "machine_0000000000000000"
    write_official(output, [*lines, json.dumps(extra) + "\n"])
    official = output / OFFICIAL_FILENAME
    problems = verify_run(output)
    assert (
        f"{official}: 4 tasks, the pool has 3 finished (0 missing, 1 not in the pool);"
        " rerun the command or `selfinstruct export`"
    ) in problems


def test_the_official_jsonl_in_another_order_than_the_pool(
    output: Path, ids: list[tuple[str, str]]
) -> None:
    lines = official_lines(output)
    write_official(output, list(reversed(lines)))
    assert verify_run(output) == [
        f"{output / OFFICIAL_FILENAME}: 3 tasks, the pool has 3 finished"
        " (0 missing, 0 not in the pool); rerun the command or `selfinstruct export`"
    ]


@pytest.mark.parametrize(
    "line", ["not json\n", "[1, 2]\n", '{"id": "machine_x"}\n', '{"id": "x", "instances": null}\n']
)
def test_a_line_that_is_not_an_exported_task(
    line: str, output: Path, ids: list[tuple[str, str]]
) -> None:
    lines = official_lines(output)
    write_official(output, [lines[0], line, *lines[2:]])
    assert verify_run(output) == [f"{output / OFFICIAL_FILENAME}:2: not an exported task"]


def test_an_alpaca_entry_missing(output: Path, ids: list[tuple[str, str]]) -> None:
    alpaca = output / ALPACA_FILENAME
    entries = json.loads(alpaca.read_text(encoding="utf-8"))
    assert len(entries) == FINISHED * INSTANCES_PER_TASK
    alpaca.write_text(json.dumps(entries[:-1]), encoding="utf-8")
    assert verify_run(output) == [f"{alpaca}: 5 entries, {OFFICIAL_FILENAME} has 6 instances"]


def test_an_alpaca_file_missing_or_unreadable(output: Path, ids: list[tuple[str, str]]) -> None:
    alpaca = output / ALPACA_FILENAME
    alpaca.write_text('[{"instruction": ', encoding="utf-8")
    problems = verify_run(output)
    assert len(problems) == 1 and problems[0].startswith(f"{alpaca}: unreadable (")
    alpaca.unlink()
    assert verify_run(output) == [f"{alpaca}: missing"]


def test_the_distiset_removed(output: Path, ids: list[tuple[str, str]]) -> None:
    shutil.rmtree(output / DISTISET_DIRNAME)
    assert verify_run(output) == [f"{output / DISTISET_DIRNAME}: missing"]


def test_a_summary_count_changed(output: Path, ids: list[tuple[str, str]]) -> None:
    edit_summary(output, tasks_finished=2)
    summary = output / SUMMARY_FILENAME
    assert verify_run(output) == [
        f"{summary}: tasks_finished is 2, the pool says 3",
        f"{summary}: accounting: 3 accepted != 2 finished + 0 lost + 0 unfinished",
    ]


def test_a_summary_missing_or_unreadable(output: Path, ids: list[tuple[str, str]]) -> None:
    summary = output / SUMMARY_FILENAME
    summary.write_text('{"tasks_finished": ', encoding="utf-8")
    problems = verify_run(output)
    assert len(problems) == 1 and problems[0].startswith(f"{summary}: unreadable (")
    summary.unlink()
    assert verify_run(output) == [f"{summary}: missing"]


def test_a_summary_that_is_not_an_object(output: Path, ids: list[tuple[str, str]]) -> None:
    summary = output / SUMMARY_FILENAME
    summary.write_text("[1, 2, 3]\n", encoding="utf-8")
    problems = verify_run(output)
    assert len(problems) >= 1 and all(p.startswith(f"{summary}: ") for p in problems)


def test_exports_behind_the_pool(output: Path, ids: list[tuple[str, str]]) -> None:
    with open_pool_store(pool_path_for(output)) as store:
        finish_task(store, FINISHED)
    official, summary = output / OFFICIAL_FILENAME, output / SUMMARY_FILENAME
    problems = verify_run(output)
    assert problems[0] == (
        f"{official}: 3 tasks, the pool has 4 finished (1 missing, 0 not in the pool);"
        " rerun the command or `selfinstruct export`"
    )
    assert f"{summary}: tasks_finished is 3, the pool says 4" in problems
    assert f"{summary}: instructions_accepted is 3, the pool says 4" in problems
    # Exporting again brings them up to date.
    _write_outputs(pool_path_for(output), output, FINISHED + 1, 1.0)
    assert verify_run(output) == []


def test_a_finished_task_also_dropped_after_acceptance(
    output: Path, ids: list[tuple[str, str]]
) -> None:
    assert Stage.INSTANCES in POST_ACCEPT_STAGES
    task_id, candidate_id = ids[1]
    pool = pool_path_for(output)
    with open_pool_store(pool) as store:
        store.record_drops(
            [
                {
                    "candidate_id": candidate_id,
                    "stage": Stage.INSTANCES,
                    "reason": Reason.NO_VALID_INSTANCES,
                }
            ]
        )
    _write_outputs(pool, output, FINISHED, 1.0)  # the summary counts the drop too
    assert verify_run(output) == [f"{pool}: finished task {task_id} was also dropped"]


def test_a_drop_before_acceptance_is_no_problem(output: Path, ids: list[tuple[str, str]]) -> None:
    pool = pool_path_for(output)
    with open_pool_store(pool) as store:
        store.record_drops(
            [
                {
                    "candidate_id": "other",
                    "stage": Stage.ROUGE_L,
                    "reason": Reason.ROUGE_L_TOO_SIMILAR,
                }
            ]
        )
    _write_outputs(pool, output, FINISHED, 1.0)
    assert verify_run(output) == []


def test_more_finished_tasks_than_the_target(output: Path, ids: list[tuple[str, str]]) -> None:
    pool = pool_path_for(output)
    with open_pool_store(pool) as store:
        store.set_meta(RUN_TARGET, "2")
    assert verify_run(output) == [f"{pool}: 3 finished tasks, more than the target 2"]
    with open_pool_store(pool) as store:
        store.set_meta(RUN_TARGET, "3")
    assert verify_run(output) == []


def test_a_finished_task_the_pool_never_accepted(output: Path, ids: list[tuple[str, str]]) -> None:
    pool = pool_path_for(output)
    with open_pool_store(pool) as store:
        store.complete(
            [
                {
                    "task_id": "machine_ffffffffffffffff",
                    "instruction": "A task nobody accepted.",
                    "instances": [{"input": "", "output": "x"}],
                    "is_classification": False,
                }
            ]
        )
    _write_outputs(pool, output, FINISHED + 1, 1.0)
    problems = verify_run(output)
    assert f"{pool}: finished task machine_ffffffffffffffff is not in the pool" in problems
    assert f"{pool}: accounting: 3 accepted < 4 finished + 0 lost" in problems


def test_finished_tasks_that_share_an_instruction(output: Path) -> None:
    pool = pool_path_for(output)
    with open_pool_store(pool) as store:
        store.add_seeds(load_seed_tasks(seed_paths(None)))
        finish_task(store, 0)
        second = store.accept(
            candidate_id="candidate_1",
            instruction="Write a limerick about topic number 1.",
            bootstrap_round=0,
            rouge_l_max=0.1,
            most_similar_task_id=None,
        )
        # The second task's record carries the first one's text (written twice).
        record = {
            "task_id": second,
            "instruction": "Write a limerick  about topic number 0.",
            "instances": [{"input": "", "output": "A limerick."}],
            "is_classification": False,
        }
        store.complete([record])
    _write_outputs(pool, output, 2, 1.0)
    assert verify_run(output) == [
        f"{pool}: 2 finished tasks share the instruction 'Write a limerick about topic number 0.'"
    ]


def _write_outputs(pool: Path | str, output: Path, target: int, elapsed: float) -> None:
    """The exports and summary, as every way of running the loop writes them."""
    RunDirectory(BootstrapRun(pool_path=str(pool)), output).write_outputs(target, elapsed)
