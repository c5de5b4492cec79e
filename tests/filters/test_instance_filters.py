"""Instance filters: per-instance checks, conflicts, label sets, and the step."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.filters.instance_filters import (
    FilterInstances,
    filter_instances,
    instance_reason,
)
from distilabel_selfinstruct.pool import open_pool_store

pytestmark = pytest.mark.usefixtures("isolated_env")


def inst(input: str, output: str) -> dict[str, str]:
    return {"input": input, "output": output}


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        (inst("2 + 2", "4"), None),
        (inst("", "A poem about the sea."), None),
        (inst("2 + 2", ""), "empty_output"),
        (inst("2 + 2", "  \n "), "empty_output"),
        (inst("Hello  world", "Hello world"), "input_equals_output"),
        (inst("Translate:", "Bonjour"), "ends_with_colon"),
        (inst("", "Here are the steps:"), "ends_with_colon"),
        ({"output": "Fine."}, None),
    ],
)
def test_instance_reason(instance: dict, expected: str | None) -> None:
    assert instance_reason(instance) == expected


def test_each_reason_on_its_own() -> None:
    instances = [
        inst("2 + 2", "4"),
        inst("3 + 3", ""),
        inst("same", "same"),
        inst("5 + 5", "10:"),
        inst("2 + 2", "4"),
    ]
    kept, dropped, *_ = filter_instances(instances)
    assert kept == [inst("2 + 2", "4")]
    assert dropped == [
        (1, "empty_output"),
        (2, "input_equals_output"),
        (3, "ends_with_colon"),
        (4, "duplicate"),
    ]


def test_conflicting_outputs_drop_only_the_conflicting_instances() -> None:
    instances = [
        inst("2 + 2", "4"),
        inst("3 + 3", "6"),
        inst("2 + 2", "5"),
        inst("4 + 4", "8"),
    ]
    kept, dropped, *_ = filter_instances(instances)
    assert kept == [inst("3 + 3", "6"), inst("4 + 4", "8")]
    assert dropped == [(0, "conflicting_outputs"), (2, "conflicting_outputs")]


def test_whitespace_differences_are_not_conflicts() -> None:
    kept, dropped, *_ = filter_instances([inst("2 + 2", "4"), inst("2  +  2", " 4 ")])
    assert kept == [inst("2 + 2", "4")]
    assert dropped == [(1, "duplicate")]


def test_tasks_without_input_may_keep_several_outputs() -> None:
    instances = [
        inst("", "Roses are red."),
        inst("", "The sea is wide."),
        inst("", "Roses are red."),
    ]
    kept, dropped, *_ = filter_instances(instances)
    assert kept == [inst("", "Roses are red."), inst("", "The sea is wide.")]
    assert dropped == [(2, "duplicate")]


def test_max_instances_keeps_the_first_ones() -> None:
    instances = [inst(f"{i} + 1", str(i + 1)) for i in range(7)]
    kept, dropped, *_ = filter_instances(instances, max_instances=5)
    assert kept == instances[:5]
    assert dropped == [(5, "over_limit"), (6, "over_limit")]
    kept, *_ = filter_instances(instances, max_instances=2)
    assert kept == instances[:2]


def test_bad_instances_dont_count_against_the_limit() -> None:
    instances = [inst("a", ""), inst("1", "one"), inst("2", "two"), inst("3", "three")]
    kept, dropped, *_ = filter_instances(instances, max_instances=2)
    assert kept == [inst("1", "one"), inst("2", "two")]
    assert dropped == [(0, "empty_output"), (3, "over_limit")]


def test_kept_instances_are_stripped() -> None:
    kept, *_ = filter_instances([inst("  2 + 2\n", " 4 ")])
    assert kept == [inst("2 + 2", "4")]


def test_label_not_in_set() -> None:
    instances = [
        inst("I loved it.", "Positive"),
        inst("Awful.", "Negative"),
        inst("Meh.", "Neutral"),
    ]
    kept, dropped, *_ = filter_instances(instances, labels=["Positive", "Negative"])
    assert kept == instances[:2]
    assert dropped == [(2, "label_not_in_set")]


def test_too_few_labels() -> None:
    instances = [inst("I loved it.", "Positive"), inst("Great!", "Positive")]
    kept, dropped, *_ = filter_instances(instances, labels=["Positive", "Negative"])
    assert kept == []
    assert [reason for _, reason in dropped] == ["too_few_labels", "too_few_labels"]
    # With min_labels=1 a single label is enough.
    kept, *_ = filter_instances(instances, labels=["Positive"], min_labels=1)
    assert kept == instances


def test_labels_are_only_checked_for_classification() -> None:
    kept, dropped, *_ = filter_instances([inst("x", "anything")], labels=None)
    assert kept == [inst("x", "anything")] and dropped == []


# -- FilterInstances -----------------------------------------------------------------------


def row(task_id: str, instances: list, is_classification: bool = False, labels=None) -> dict:
    return {
        "task_id": task_id,
        "candidate_id": f"cand-{task_id}",
        "instruction": f"Instruction {task_id}.",
        "is_classification": is_classification,
        "labels": labels or [],
        "instances": instances,
        "bootstrap_round": 4,
    }


def run(rows: list[dict], **kwargs) -> tuple[list[dict], FilterInstances]:
    step = FilterInstances(**kwargs)
    step.load()
    return next(step.process(rows)), step


def test_step_keeps_good_instances_and_drops_empty_tasks() -> None:
    rows = [
        row("good", [inst("2 + 2", "4"), inst("2 + 2", "5"), inst("3 + 3", "6")]),
        row("all_bad", [inst("a", ""), inst("b", "b")]),
        row("nothing_parsed", []),
        row(
            "sentiment",
            [inst("Loved it.", "Positive"), inst("Hated it.", "Negative"), inst("Ok.", "Meh")],
            is_classification=True,
            labels=["Positive", "Negative", "Meh"],
        ),
    ]
    out, step = run(rows)
    assert [r["task_id"] for r in out] == ["good", "sentiment"]
    assert out[0]["instances"] == [inst("3 + 3", "6")]
    assert out[0]["instances_dropped"] == 2
    assert out[0]["labels"] == []
    assert out[1]["labels"] == ["Positive", "Negative", "Meh"]
    assert out[1]["instruction"] == "Instruction sentiment."
    assert step.drop_counts == {
        "conflicting_outputs": 2,
        "empty_output": 1,
        "input_equals_output": 1,
        "no_valid_instances": 1,
        "no_instances_parsed": 1,
    }
    assert step.label_distribution == {"Positive": 1, "Negative": 1, "Meh": 1}


def test_step_labels_are_those_of_the_kept_instances() -> None:
    instances = [inst("Loved it.", "Positive"), inst("Hated it.", "Negative"), inst("?", "Other")]
    out, _ = run([row("t", instances, True, ["Positive", "Negative"])])
    assert out[0]["labels"] == ["Positive", "Negative"]
    assert out[0]["instances_dropped"] == 1


def test_step_max_instances() -> None:
    instances = [inst(str(i), f"answer {i}") for i in range(6)]
    out, step = run([row("t", instances)], max_instances=3)
    assert out[0]["instances"] == instances[:3]
    assert step.drop_counts == {"over_limit": 3}


def test_step_records_drops_in_the_pool_store(pool_path: Path) -> None:
    rows = [
        row("good", [inst("2 + 2", "4"), inst("3 + 3", "")]),
        row("all_bad", [inst("a", "")]),
        row("nothing_parsed", []),
    ]
    _, step = run(rows, run=BootstrapRun(pool_path=str(pool_path)))
    step.unload()
    with open_pool_store(pool_path) as store:
        assert store.drop_counts() == {
            ("instance_filters", "empty_output"): 2,
            # Task-level drops use the step's stage: they are lost in-flight tasks.
            ("instances", "no_valid_instances"): 1,
            ("instances", "no_instances_parsed"): 1,
        }
        drops = {(d["candidate_id"], d["stage"]): d for d in store.drops()}
        assert drops[("good#1", "instance_filters")]["bootstrap_round"] == 4
        assert drops[("cand-all_bad", "instances")]["text"] == "Instruction all_bad."


def test_too_few_labels_drops_are_all_recorded(pool_path: Path) -> None:
    instances = [inst("Loved it.", "Positive"), inst("Great!", "Positive")]
    _, step = run(
        [row("t", instances, True, ["Positive", "Negative"])],
        run=BootstrapRun(pool_path=str(pool_path)),
    )
    step.unload()
    assert step.drop_counts["too_few_labels"] == 2
    with open_pool_store(pool_path) as store:
        assert store.drop_counts()[("instance_filters", "too_few_labels")] == 2
