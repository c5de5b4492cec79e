"""Exports: the official Self-Instruct JSONL and Alpaca JSON, read from the pool store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilabel_selfinstruct.export import (
    ALPACA_FILENAME,
    DISTISET_DIRNAME,
    EXTRA_KEYS,
    OFFICIAL_FILENAME,
    ExportRefusedError,
    ExportWriteError,
    alpaca_records,
    export_run,
    official_record,
    write_alpaca_json,
    write_distiset,
    write_official_jsonl,
)
from distilabel_selfinstruct.pool import PoolDamagedError, open_pool_store
from distilabel_selfinstruct.seeds import load_seed_tasks

OFFICIAL_KEYS = ["id", "name", "instruction", "instances", "is_classification"]

TASKS = [
    {
        "task_id": "machine_aaaa",
        "instruction": "Label the sentiment as Positive or Negative.",
        "is_classification": True,
        "classification_score": 0.92,
        "instances": [
            {"input": "I loved it.", "output": "Positive"},
            {"input": "Too long and dull.", "output": "Negative"},
        ],
        "labels": ["Positive", "Negative"],
        "rouge_l_max": 0.41,
        "most_similar_task_id": "seed_task_3",
        "most_similar_instruction": "Classify the review.",
        "bootstrap_round": 0,
        "model_name": "scripted",
    },
    {
        "task_id": "machine_bbbb",
        "instruction": "Écris un haïku sur la mer.",
        "is_classification": None,
        "instances": [{"input": None, "output": "Vagues sous la lune"}, {"output": "Sel et vent"}],
    },
    {"task_id": "machine_cccc", "instruction": "A task without instances.", "instances": None},
]


def test_official_record_keys_and_values() -> None:
    record = official_record(TASKS[0])
    assert list(record) == OFFICIAL_KEYS + list(EXTRA_KEYS)
    assert record["id"] == record["name"] == "machine_aaaa"
    assert record["is_classification"] is True
    assert record["instances"] == TASKS[0]["instances"]
    assert record["rouge_l_max"] == 0.41 and record["bootstrap_round"] == 0


def test_official_record_normalizes_missing_values() -> None:
    record = official_record(TASKS[1])
    assert record["is_classification"] is False
    assert record["instances"] == [
        {"input": "", "output": "Vagues sous la lune"},
        {"input": "", "output": "Sel et vent"},
    ]
    assert record["labels"] is None and record["model_name"] is None
    assert official_record(TASKS[2])["instances"] == []


def test_alpaca_has_one_entry_per_instance() -> None:
    records = alpaca_records(TASKS)
    assert records == [
        {
            "instruction": "Label the sentiment as Positive or Negative.",
            "input": "I loved it.",
            "output": "Positive",
        },
        {
            "instruction": "Label the sentiment as Positive or Negative.",
            "input": "Too long and dull.",
            "output": "Negative",
        },
        {"instruction": "Écris un haïku sur la mer.", "input": "", "output": "Vagues sous la lune"},
        {"instruction": "Écris un haïku sur la mer.", "input": "", "output": "Sel et vent"},
    ]


def test_written_jsonl_loads_as_seed_tasks(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "out.jsonl"
    assert write_official_jsonl(TASKS, path) == 3
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 3
    assert "Écris" in lines[1]  # not \u-escaped
    assert [list(json.loads(line))[:5] for line in lines] == [OFFICIAL_KEYS] * 3
    # The export is valid input for another run (the official format round trip).
    loaded = load_seed_tasks(path)
    assert [task.id for task in loaded] == ["machine_aaaa", "machine_bbbb", "machine_cccc"]
    assert loaded[0].is_classification and loaded[0].instances[1].output == "Negative"


def test_written_alpaca_json(tmp_path: Path) -> None:
    path = tmp_path / "alpaca.json"
    assert write_alpaca_json(TASKS, path) == 4
    assert json.loads(path.read_text("utf-8")) == alpaca_records(TASKS)


def test_export_run_reads_the_pool_store(pool_path: Path, tmp_path: Path) -> None:
    with open_pool_store(pool_path) as store:
        store.complete(TASKS[:2])
    paths = export_run(pool_path, tmp_path / "export")
    assert paths == {
        "official": tmp_path / "export" / OFFICIAL_FILENAME,
        "alpaca": tmp_path / "export" / ALPACA_FILENAME,
        "distiset": tmp_path / "export" / DISTISET_DIRNAME,
    }
    official = [json.loads(line) for line in paths["official"].read_text("utf-8").splitlines()]
    assert [record["id"] for record in official] == ["machine_aaaa", "machine_bbbb"]
    assert len(json.loads(paths["alpaca"].read_text("utf-8"))) == 4
    assert (paths["distiset"] / "default").is_dir()


def test_an_export_never_replaces_a_file_with_fewer_tasks(pool_path: Path, tmp_path: Path) -> None:
    with open_pool_store(pool_path) as store:
        store.complete(TASKS[:2])
    output = tmp_path / "export"
    export_run(pool_path, output)
    before = {name: (output / name).read_bytes() for name in (OFFICIAL_FILENAME, ALPACA_FILENAME)}
    fresh = tmp_path / "fresh.sqlite"  # a pool that lost its tasks
    open_pool_store(fresh).close()
    with pytest.raises(ExportRefusedError, match="holds 2 tasks but the pool only 0"):
        export_run(fresh, output)
    assert {name: (output / name).read_bytes() for name in before} == before


def test_a_pool_that_cannot_be_read_exports_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "pool.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(PoolDamagedError, match="empty"):
        export_run(empty, tmp_path)
    assert not (tmp_path / OFFICIAL_FILENAME).exists()


def test_a_run_that_finished_nothing_gets_empty_exports_and_no_distiset(
    pool_path: Path, tmp_path: Path
) -> None:
    open_pool_store(pool_path).close()
    paths = export_run(pool_path, tmp_path / "export")
    assert paths["official"].read_text() == ""
    assert json.loads(paths["alpaca"].read_text()) == []
    assert not paths["distiset"].exists()


def test_the_distiset_is_swapped_in_whole(pool_path: Path, tmp_path: Path) -> None:
    with open_pool_store(pool_path) as store:
        store.complete(TASKS[:1])
    target = tmp_path / "distiset"
    write_distiset(TASKS[:1], target)
    write_distiset(TASKS[:2], target)
    from datasets import load_from_disk

    assert load_from_disk(str(target / "default"))["train"].num_rows == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".distiset")] == []


def test_a_kill_between_the_distiset_renames_is_undone_by_the_next_export(
    pool_path: Path, tmp_path: Path
) -> None:
    with open_pool_store(pool_path) as store:
        store.complete(TASKS[:2])
    output = tmp_path / "export"
    export_run(pool_path, output)
    # What a kill after `distiset -> .distiset.old-*` and before the new one moved in leaves.
    (output / "distiset").rename(output / ".distiset.old-1-2")
    (output / ".distiset.new-1-3").mkdir()
    with open_pool_store(pool_path) as store:
        store.complete(TASKS[2:3])
    export_run(pool_path, output)
    from datasets import load_from_disk

    assert load_from_disk(str(output / "distiset" / "default"))["train"].num_rows == 3
    assert sorted(p.name for p in output.iterdir()) == [
        "alpaca.json",
        "distiset",
        "self_instruct.jsonl",
    ]


def test_an_export_that_cannot_write_keeps_the_old_distiset(
    pool_path: Path, tmp_path: Path
) -> None:
    with open_pool_store(pool_path) as store:
        store.complete(TASKS[:2])
    output = tmp_path / "export"
    export_run(pool_path, output)
    (output / "distiset").rename(output / ".distiset.old-1-2")  # killed mid-swap
    (output / ALPACA_FILENAME).unlink()
    (output / ALPACA_FILENAME).mkdir()  # and now a write must fail
    with pytest.raises(ExportWriteError, match="alpaca.json: is a directory"):
        export_run(pool_path, output)
    assert (output / "distiset" / "default").is_dir()  # the old copy is back, not deleted
