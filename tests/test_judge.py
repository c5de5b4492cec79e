"""The LLM judge: reading its replies, the step, and the threshold after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.filters.judged import UNRATED_COUNTER, FilterJudgedInstances
from distilabel_selfinstruct.judge import JudgeInstances, Judgement, parse_judgements
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.timeout(60)


def test_json_as_asked() -> None:
    reply = (
        '{"ratings": [{"example": 1, "rationale": "Correct and complete.", "rating": "A"},'
        ' {"example": 2, "rationale": "Unrelated to the task.", "rating": "D"}]}'
    )
    assert parse_judgements(reply, 2) == [
        Judgement("A", "Correct and complete."),
        Judgement("D", "Unrelated to the task."),
    ]


def test_json_in_a_code_fence_after_prose_and_out_of_order() -> None:
    reply = (
        "Sure! Here are my ratings:\n```json\n"
        '{"ratings": [{"example": 2, "rating": "c", "rationale": "Wrong sum."},'
        ' {"example": 1, "rating": "B", "rationale": "Fine, a bit terse."}]}\n```'
    )
    assert parse_judgements(reply, 2) == [
        Judgement("B", "Fine, a bit terse."),
        Judgement("C", "Wrong sum."),
    ]


def test_json_cut_by_the_token_limit_keeps_the_whole_entries() -> None:
    reply = (
        '{"ratings": [{"example": 1, "rationale": "Valid answer.", "rating": "A"},'
        ' {"example": 2, "rationale": "The output rep'
    )
    assert parse_judgements(reply, 2) == [Judgement("A", "Valid answer."), None]


def test_prose_lines() -> None:
    reply = (
        "Example 1: B - the output answers, with a small error.\n"
        "Example 2 - Rating: D. Rationale: it is about something else."
    )
    assert parse_judgements(reply, 2) == [
        Judgement("B", "the output answers, with a small error."),
        Judgement("D", "it is about something else."),
    ]


def test_a_single_instance_rated_in_prose() -> None:
    assert parse_judgements("Rating: C\nThe output misses half the task.", 1) == [
        Judgement("C", "The output misses half the task.")
    ]


@pytest.mark.parametrize(
    "reply",
    [None, "", "I cannot rate these.", '{"ratings": "all good"}', '{"ratings": [{"rating": "E"}]}'],
)
def test_garbage_leaves_every_instance_unrated(reply: str | None) -> None:
    assert parse_judgements(reply, 2) == [None, None]


def test_a_real_reply_of_the_embedded_model_under_its_grammar() -> None:
    # gemma-3-270m held to JUDGEMENT_SCHEMA by a llama.cpp grammar (2026-12-03): valid JSON
    # with one entry for two examples and a useless rationale, which is what it is.
    reply = '{"ratings": [{"example": 1, "rationale": "}, {", "rating": "A"}]}'
    assert parse_judgements(reply, 2) == [Judgement("A", "}, {"), None]


def rows(*outputs: str) -> list[dict[str, Any]]:
    return [
        {
            "task_id": "machine_1",
            "candidate_id": "c1",
            "instruction": "Name the capital of the country.",
            "model_name": "generator",
            "instances": [{"input": f"country {i}", "output": o} for i, o in enumerate(outputs)],
        }
    ]


def test_the_step_rates_each_instance_and_keeps_the_generators_model_name() -> None:
    reply = (
        '{"ratings": [{"example": 1, "rationale": "Right.", "rating": "A"},'
        ' {"example": 2, "rationale": "Not a capital.", "rating": "D"}]}'
    )
    judge = JudgeInstances(llm=ScriptedLLM(default_reply=reply), prompt_style="chat")
    judge.load()
    (row,) = next(judge.process(rows("Paris", "Some items are sold at a higher price.")))
    assert row["judgements"] == [
        {"rating": "A", "rationale": "Right."},
        {"rating": "D", "rationale": "Not a capital."},
    ]
    assert row["model_name"] == "generator"
    assert row["judge_model"] == judge.llm.model_name
    prompt = judge.format_input(rows("Paris")[0])[0]["content"]
    assert "Task: Name the capital of the country." in prompt and "Output: Paris" in prompt


def test_the_threshold_drops_what_is_rated_below_it_and_keeps_the_unrated(
    tmp_path: Path,
) -> None:
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)
    row = rows("Paris", "Lyon", "No idea")[0]
    row["judgements"] = [
        {"rating": "A", "rationale": "ok"},
        {"rating": "D", "rationale": "no"},
        None,
    ]
    step = FilterJudgedInstances(run=run, min_rating="C")
    step.load()
    (kept,) = next(step.process([row]))
    assert [i["output"] for i in kept["instances"]] == ["Paris", "No idea"]
    assert kept["judgements"] == [{"rating": "A", "rationale": "ok"}, None]
    with run.open_store() as store:
        assert store.drop_counts() == {("judge", "judge_rating"): 1}
        assert store.counters()[UNRATED_COUNTER] == 1
    step.unload()


def test_a_task_left_without_instances_is_lost_to_the_run(tmp_path: Path) -> None:
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)
    row = rows("Lyon")[0]
    row["judgements"] = [{"rating": "C", "rationale": "wrong"}]
    step = FilterJudgedInstances(run=run, min_rating="B")
    step.load()
    assert next(step.process([row])) == []
    with run.open_store() as store:
        assert store.drop_counts()[("judge", "no_valid_instances")] == 1
    step.unload()
