"""Curation rules and outputs, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.review import (
    APPROVED,
    CORRECTED,
    REJECTED_INPUT,
    REJECTED_INSTRUCTION,
    REJECTED_OUTPUT,
    UNREVIEWED,
    UNREVIEWED_EXCLUDED,
    agreement,
    curate,
    official_task,
    passes,
    write_curated,
)
from tests.argilla.helpers import make_classification_task, make_task, reviewed, vote

YES, NO, NA = s.YES, s.NO, s.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], True),
        ([YES], True),
        ([NO], False),
        ([YES, NO], False),
        ([YES, YES, NO], True),
        ([NA], True),
        ([NA, NO], False),
    ],
)
def test_passes_needs_a_strict_majority(values: list[str], expected: bool) -> None:
    assert passes(values) is expected


def test_approved_instance_is_kept_as_generated() -> None:
    task = make_task(0)
    result = curate(reviewed(task, [[vote("u1", input_=NA)]]))
    assert result.decisions == {f"{task['task_id']}-0": APPROVED}
    (out,) = result.tasks
    assert out["instances"] == task["instances"]
    assert out["instruction"] == task["instruction"]
    assert out["review"]["reviewers"] == ["u1"]
    assert result.summary["approved"] == 1 and result.summary["rejected"] == 0


def test_invalid_instruction_drops_the_whole_task_including_unreviewed() -> None:
    task = make_classification_task(0)
    records = reviewed(task, [[vote("u1", instruction=NO)], []])
    for include in (False, True):
        result = curate(records, include_unreviewed=include)
        assert result.tasks == []
        assert set(result.decisions.values()) == {REJECTED_INSTRUCTION}
        assert result.summary["tasks"]["dropped_invalid_instruction"] == 1
        assert result.summary["rejected_by_reason"]["instruction"] == 2


def test_instruction_votes_are_pooled_across_the_task() -> None:
    task = make_classification_task(0)
    # 2 yes vs 1 no over the task's two records: the instruction stands.
    kept = curate(reviewed(task, [[vote("u1"), vote("u2", instruction=NO)], [vote("u1")]]))
    assert len(kept.tasks) == 1
    # 1 yes vs 1 no: tie -> dropped.
    tied = curate(reviewed(task, [[vote("u1")], [vote("u2", instruction=NO)]]))
    assert tied.tasks == []


def test_inappropriate_input_drops_the_instance_even_with_a_correction() -> None:
    task = make_classification_task(0)
    result = curate(reviewed(task, [[vote("u1", input_=NO, corrected="negative")], [vote("u1")]]))
    ids = [f"{task['task_id']}-0", f"{task['task_id']}-1"]
    assert result.decisions == {ids[0]: REJECTED_INPUT, ids[1]: APPROVED}
    assert result.tasks[0]["instances"] == [task["instances"][1]]


def test_correction_replaces_the_output() -> None:
    task = make_task(0, instances=[{"input": "2+2", "output": "5"}])
    result = curate(reviewed(task, [[vote("u1", output=NO, corrected="  4 \n")]]))
    assert result.tasks[0]["instances"] == [{"input": "2+2", "output": "4"}]
    assert result.summary["corrected"] == 1
    assert result.rows[0]["review_status"] == CORRECTED


def test_most_frequent_correction_wins_ties_break_lexicographically() -> None:
    task = make_task(0, instances=[{"input": "2+2", "output": "5"}])
    votes = [
        vote("u1", output=NO, corrected="4"),
        vote("u2", output=NO, corrected="four"),
        vote("u3", corrected="4"),
    ]
    assert curate(reviewed(task, [votes])).tasks[0]["instances"][0]["output"] == "4"
    tie = [vote("u1", output=NO, corrected="four"), vote("u2", output=NO, corrected="4")]
    assert curate(reviewed(task, [tie])).tasks[0]["instances"][0]["output"] == "4"


def test_unacceptable_output_without_correction_is_dropped() -> None:
    task = make_classification_task(0)
    result = curate(
        reviewed(task, [[vote("u1", output=NO)], [vote("u1", output=NO, corrected="")]])
    )
    assert set(result.decisions.values()) == {REJECTED_OUTPUT}
    assert result.tasks == []
    assert result.summary["tasks"]["dropped_no_instances"] == 1


def test_split_output_votes_are_rejected() -> None:
    task = make_task(0)
    result = curate(reviewed(task, [[vote("u1"), vote("u2", output=NO)]]))
    assert result.decisions == {f"{task['task_id']}-0": REJECTED_OUTPUT}


def test_wrong_label_rejects_classification_instances_only() -> None:
    cls_task = make_classification_task(0)
    result = curate(reviewed(cls_task, [[vote("u1", label=NO)], [vote("u1", label=YES)]]))
    assert [d for d in result.decisions.values()] == [REJECTED_OUTPUT, APPROVED]
    gen_task = make_task(1)
    assert curate(reviewed(gen_task, [[vote("u1", label=NO)]])).tasks != []


def test_reviewers_can_fix_the_task_type() -> None:
    task = make_classification_task(0)
    result = curate(reviewed(task, [[vote("u1", is_cls=NO)], [vote("u2", is_cls=NO)]]))
    assert result.tasks[0]["is_classification"] is False
    assert result.tasks[0]["labels"] == []
    tie = curate(reviewed(task, [[vote("u1", is_cls=NO)], [vote("u2", is_cls=YES)]]))
    assert tie.tasks[0]["is_classification"] is True


def test_corrected_label_joins_the_label_set() -> None:
    task = make_classification_task(0)
    result = curate(reviewed(task, [[vote("u1", output=NO, corrected="neutral")], [vote("u1")]]))
    assert result.tasks[0]["labels"] == ["positive", "negative", "neutral"]


def test_unreviewed_instances_are_excluded_unless_asked() -> None:
    reviewed_task, open_task = make_classification_task(0), make_task(1)
    records = reviewed(reviewed_task, [[vote("u1")], []]) + reviewed(open_task, [[]])
    default = curate(records)
    assert [t["task_id"] for t in default.tasks] == [reviewed_task["task_id"]]
    assert default.tasks[0]["instances"] == [reviewed_task["instances"][0]]
    assert default.summary["unreviewed_excluded"] == 2
    assert default.summary["tasks"]["unreviewed_excluded"] == 1

    included = curate(records, include_unreviewed=True)
    assert sorted(t["task_id"] for t in included.tasks) == sorted(
        [reviewed_task["task_id"], open_task["task_id"]]
    )
    assert included.summary["unreviewed_included"] == 2
    statuses = {r["task_id"] + str(r["instance_index"]): r["review_status"] for r in included.rows}
    assert statuses[reviewed_task["task_id"] + "1"] == UNREVIEWED
    assert UNREVIEWED_EXCLUDED not in included.decisions.values()


def test_summary_counts() -> None:
    a, b, c = make_classification_task(0), make_task(1), make_task(2)
    records = (
        reviewed(a, [[vote("u1"), vote("u2")], [vote("u1", output=NO, corrected="positive")]])
        + reviewed(b, [[vote("u1", instruction=NO)]])
        + reviewed(c, [[]])
    )
    summary = curate(records).summary
    assert {
        k: summary[k] for k in ("records", "reviewed", "approved", "corrected", "rejected")
    } == {
        "records": 4,
        "reviewed": 3,
        "approved": 1,
        "corrected": 1,
        "rejected": 1,
    }
    assert summary["unreviewed_excluded"] == 1
    assert summary["kept_instances"] == 2
    assert summary["reviewers"] == 2
    assert summary["tasks"] == {
        "total": 3,
        "reviewed": 2,
        "kept": 1,
        "dropped_invalid_instruction": 1,
        "dropped_no_instances": 0,
        "unreviewed_excluded": 1,
    }


def test_agreement_is_pairwise_over_multiply_reviewed_records() -> None:
    task = make_classification_task(0)
    records = reviewed(
        task,
        [
            [
                vote("u1"),
                vote("u2", output=NO),
                vote("u3", output=NO),
            ],  # output: 1 of 3 pairs agree
            [vote("u1"), vote("u2")],  # output: 1 of 1 pair agrees
        ],
    )
    result = agreement(records)
    assert result[s.Q_OUTPUT_ACCEPTABLE] == {
        "records": 2,
        "pairwise_agreement": round((1 / 3 + 1) / 2, 4),
        "unanimous": 0.5,
    }
    assert result[s.Q_INSTRUCTION_VALID] == {
        "records": 2,
        "pairwise_agreement": 1.0,
        "unanimous": 1.0,
    }
    assert s.Q_LABEL_CORRECT not in result  # nobody answered it
    single = agreement(reviewed(make_task(1), [[vote("u1")]]))
    assert single == {}


def test_write_curated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    task = make_classification_task(0)
    result = curate(reviewed(task, [[vote("u1")], [vote("u1", output=NO, corrected="positive")]]))
    paths = write_curated(result, tmp_path / "out")

    lines = paths["jsonl"].read_text().splitlines()
    assert len(lines) == 1
    official = json.loads(lines[0])
    assert list(official)[:5] == ["id", "name", "instruction", "instances", "is_classification"]
    assert official["instances"] == [
        {"input": "I love this phone.", "output": "positive"},
        {"input": "Battery died after a day.", "output": "positive"},
    ]
    assert official["review_status"] == [APPROVED, CORRECTED]
    assert official == official_task(result.tasks[0])

    alpaca = json.loads(paths["alpaca"].read_text())
    assert alpaca == [
        {"instruction": task["instruction"], "input": "I love this phone.", "output": "positive"},
        {
            "instruction": task["instruction"],
            "input": "Battery died after a day.",
            "output": "positive",
        },
    ]
    assert json.loads(paths["summary"].read_text()) == result.summary

    from datasets import load_from_disk

    hf = load_from_disk(str(paths["hf"]))
    assert hf.num_rows == 2
    assert hf[1]["output"] == "positive" and hf[1]["review_status"] == CORRECTED


def test_write_curated_with_nothing_kept(tmp_path: Path) -> None:
    result = curate(reviewed(make_task(0), [[vote("u1", output=NO)]]))
    paths = write_curated(result, tmp_path, hf=False)
    assert paths["jsonl"].read_text() == ""
    assert json.loads(paths["alpaca"].read_text()) == []
