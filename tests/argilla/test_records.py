"""Tasks -> review records, without a server."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.records import (
    format_labels,
    normalize_task,
    parse_labels,
    parse_record_id,
    read_jsonl_tasks,
    record_id,
    task_to_records,
    tasks_to_records,
    unit_float,
)
from tests.argilla.helpers import make_classification_task, make_task

SEEDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "seed_tasks.jsonl"
METADATA_TYPES = {
    s.M_TASK_ID: str,
    s.M_INSTANCE_INDEX: int,
    s.M_IS_CLASSIFICATION: str,
    s.M_CLASSIFICATION_SCORE: float,
    s.M_ROUGE_L_MAX: float,
    s.M_MOST_SIMILAR_TASK_ID: str,
    s.M_BOOTSTRAP_ROUND: int,
    s.M_MODEL: str,
    s.M_INSTRUCTION_WORDS: int,
    s.M_INPUT_WORDS: int,
    s.M_OUTPUT_WORDS: int,
}
QUESTION_LABELS = {
    s.Q_INPUT_APPROPRIATE: set(s.YES_NO_NA),
    s.Q_IS_CLASSIFICATION: set(s.YES_NO),
    s.Q_LABEL_CORRECT: set(s.YES_NO_NA),
}


def test_one_record_per_instance_grouped_by_task() -> None:
    task = make_classification_task(3)
    records = task_to_records(task)
    assert [r.id for r in records] == [f"{task['task_id']}-0", f"{task['task_id']}-1"]
    assert {r.metadata[s.M_TASK_ID] for r in records} == {task["task_id"]}
    assert [r.metadata[s.M_INSTANCE_INDEX] for r in records] == [0, 1]
    assert records[1].fields == {
        s.FIELD_INSTRUCTION: task["instruction"],
        s.FIELD_INPUT: "Battery died after a day.",
        s.FIELD_OUTPUT: "negative",
        s.FIELD_LABELS: "positive\nnegative",
        s.FIELD_SIMILAR: "Write a poem about the sea.",
    }


def test_record_ids_are_stable_when_content_changes() -> None:
    """A corrected/resumed run must update the same records, not add new ones."""
    before = task_to_records(make_task(1))
    after = task_to_records(make_task(1, instances=[{"input": "", "output": "a different output"}]))
    assert [r.id for r in before] == [r.id for r in after]
    assert before[0].fields[s.FIELD_OUTPUT] != after[0].fields[s.FIELD_OUTPUT]
    assert [r.id for r in task_to_records(make_task(1))] == [r.id for r in before]


def test_record_id_round_trip() -> None:
    assert parse_record_id(record_id("abc-def", 12)) == ("abc-def", 12)


def test_empty_input_is_omitted_and_suggested_not_applicable() -> None:
    (record,) = task_to_records(make_task(0))
    assert s.FIELD_INPUT not in record.fields
    assert s.FIELD_LABELS not in record.fields
    assert record.metadata[s.M_INPUT_WORDS] == 0
    by_question = {sg.question: sg for sg in record.suggestions}
    assert by_question[s.Q_INPUT_APPROPRIATE].value == s.NOT_APPLICABLE
    assert by_question[s.Q_INPUT_APPROPRIATE].score == 1.0


def test_classification_suggestions_carry_the_model_score() -> None:
    cls_records = task_to_records(make_classification_task(0, classification_score=0.8))
    sg = {x.question: x for x in cls_records[0].suggestions}
    assert (sg[s.Q_IS_CLASSIFICATION].value, sg[s.Q_IS_CLASSIFICATION].score) == (s.YES, 0.8)
    assert s.Q_LABEL_CORRECT not in sg  # the model cannot judge its own label
    assert s.Q_INPUT_APPROPRIATE not in sg  # the input is not empty

    gen = {
        x.question: x
        for x in task_to_records(make_task(0, classification_score=0.2))[0].suggestions
    }
    assert gen[s.Q_IS_CLASSIFICATION].value == s.NO
    assert gen[s.Q_IS_CLASSIFICATION].score == pytest.approx(0.8)
    assert (gen[s.Q_LABEL_CORRECT].value, gen[s.Q_LABEL_CORRECT].score) == (
        s.NOT_APPLICABLE,
        pytest.approx(0.8),
    )

    none = {
        x.question: x
        for x in task_to_records(make_task(0, classification_score=None))[0].suggestions
    }
    assert none[s.Q_IS_CLASSIFICATION].score is None


def test_metadata_values_match_the_schema() -> None:
    (record,) = task_to_records(make_task(0, bootstrap_round=2))
    assert record.metadata == {
        s.M_TASK_ID: make_task(0)["task_id"],
        s.M_INSTANCE_INDEX: 0,
        s.M_IS_CLASSIFICATION: "false",
        s.M_CLASSIFICATION_SCORE: 0.12,
        s.M_ROUGE_L_MAX: 0.25,
        s.M_MOST_SIMILAR_TASK_ID: "seed_task_7",
        s.M_BOOTSTRAP_ROUND: 2,
        s.M_MODEL: "gemma-3-270m",
        s.M_INSTRUCTION_WORDS: 7,
        s.M_INPUT_WORDS: 0,
        s.M_OUTPUT_WORDS: 11,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 0.5),
        (1.0000001, 1.0),
        (-0.1, 0.0),
        (float("nan"), None),
        (float("inf"), None),
        (None, None),
        ("0.3", 0.3),
        ("x", None),
        (True, None),
    ],
)
def test_unit_float(value: object, expected: float | None) -> None:
    assert unit_float(value) == expected


def test_unusable_scores_are_left_out() -> None:
    (record,) = task_to_records(
        make_task(0, rouge_l_max=float("nan"), classification_score=None, bootstrap_round=None)
    )
    for key in (s.M_ROUGE_L_MAX, s.M_CLASSIFICATION_SCORE, s.M_BOOTSTRAP_ROUND):
        assert key not in record.metadata


def test_missing_optional_keys_get_neutral_values() -> None:
    task = normalize_task(
        {
            "id": "seed_task_1",
            "instruction": " Do X. ",
            "instances": [{"input": "a", "output": "b"}],
        }
    )
    assert task["task_id"] == "seed_task_1"
    assert task["instruction"] == "Do X."
    assert task["model_name"] == s.UNKNOWN_MODEL
    assert task["labels"] == [] and task["is_classification"] is False
    assert normalize_task(task) == task  # idempotent


@pytest.mark.parametrize("raw", [{"instruction": "x"}, {"task_id": "t", "instruction": "  "}])
def test_invalid_tasks_are_rejected(raw: dict) -> None:
    with pytest.raises(ValueError):
        normalize_task(raw)


def test_task_without_instances_has_no_records() -> None:
    assert task_to_records(make_task(0, instances=[])) == []


def test_labels_round_trip() -> None:
    labels = ["positive", "very  negative", "neutral\nish"]
    assert parse_labels(format_labels(labels)) == ["positive", "very negative", "neutral ish"]
    assert parse_labels(None) == [] and parse_labels("") == []


def test_read_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(make_task(0)) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:3"):
        read_jsonl_tasks(path)


def test_seed_tasks_become_valid_records() -> None:
    if not SEEDS.exists():
        pytest.skip(f"{SEEDS} not available")
    tasks = read_jsonl_tasks(SEEDS)
    records = list(tasks_to_records(tasks))
    assert len(tasks) == 175
    assert len(records) == sum(len(t["instances"]) for t in tasks)
    assert len({r.id for r in records}) == len(records)
    assert records[0].id == "seed_task_0-0"
    for record in records:
        _assert_valid(record)


def _assert_valid(record) -> None:
    for key, value in record.metadata.items():
        assert isinstance(value, METADATA_TYPES[key]), (key, value)
        if isinstance(value, float):
            assert 0.0 <= value <= 1.0 and math.isfinite(value)
        if isinstance(value, int):
            assert value >= 0
    assert record.metadata[s.M_IS_CLASSIFICATION] in s.BOOL_TERMS
    assert record.fields[s.FIELD_INSTRUCTION] and s.FIELD_OUTPUT in record.fields
    assert all(v != "" for k, v in record.fields.items() if k != s.FIELD_OUTPUT)
    for sg in record.suggestions:
        assert sg.value in QUESTION_LABELS[sg.question]
        assert sg.score is None or 0.0 <= sg.score <= 1.0


text = st.text(max_size=30)
instances = st.lists(st.fixed_dictionaries({"input": text, "output": text}), max_size=4)
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2))


@given(
    instances=instances,
    score=numbers,
    rouge=numbers,
    is_cls=st.booleans(),
    labels=st.lists(text, max_size=3),
    round_=st.one_of(st.none(), st.integers(0, 10)),
)
def test_any_task_gives_valid_unique_records(
    instances, score, rouge, is_cls, labels, round_
) -> None:
    task = make_task(
        0,
        instances=instances,
        classification_score=score,
        rouge_l_max=rouge,
        is_classification=is_cls,
        labels=labels,
        bootstrap_round=round_,
    )
    records = task_to_records(task)
    assert len(records) == len(instances)
    assert len({r.id for r in records}) == len(records)
    for record in records:
        _assert_valid(record)
