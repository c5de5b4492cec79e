"""`LLMTask`, the one base of our LLM tasks: the only `process`, and rows shaped as
distilabel's `Task.process` shapes them, built from the public `format_output`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from distilabel.steps.tasks import Task

from distilabel_selfinstruct.classification import IdentifyClassification
from distilabel_selfinstruct.instances import GenerateInstances
from distilabel_selfinstruct.instructions import GenerateInstructions
from distilabel_selfinstruct.judge import JudgeInstances
from distilabel_selfinstruct.llm_task import LLMTask
from distilabel_selfinstruct.testing import ScriptedLLM
from tests.test_concurrency import AsyncScriptedLLM, rows

pytestmark = [pytest.mark.usefixtures("isolated_env"), pytest.mark.timeout(60)]

TASKS = [GenerateInstructions, IdentifyClassification, GenerateInstances, JudgeInstances]
INSTANCE_ROWS = [
    {"instruction": "Name the capital of a country.", "is_classification": False},
    {"instruction": "Is this review positive or negative?", "is_classification": True},
]
INSTANCES_REPLY = " France\nOutput: Paris\n\nExample 2\nInput: Japan\nOutput: Tokyo\n"


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.__name__)
def test_only_the_base_defines_process(cls: type[LLMTask]) -> None:
    assert issubclass(cls, LLMTask)
    assert "process" not in cls.__dict__
    owners = [base for base in cls.__mro__ if "process" in base.__dict__]
    assert owners[0] is LLMTask  # distilabel's `Task.process` comes after, never used
    assert "_format_outputs" not in cls.__dict__ and "_format_outputs" not in LLMTask.__dict__


def test_no_task_of_ours_reaches_for_distilabel_s_private_format_outputs() -> None:
    import inspect

    from distilabel_selfinstruct import (
        classification,
        concurrency,
        generation,
        instances,
        instructions,
        judge,
        llm_failures,
        llm_task,
    )

    for module in (
        classification,
        concurrency,
        generation,
        instances,
        instructions,
        judge,
        llm_failures,
        llm_task,
    ):
        assert "._format_outputs(" not in inspect.getsource(module), module.__name__


def instances_task(cut_off: tuple[str, ...] = (), **kwargs: Any) -> GenerateInstances:
    """A task whose replies to prompts containing any of `cut_off` end at the token limit
    (distilabel's own `Task.process` cannot tell, so comparisons use none)."""
    llm = ScriptedLLM(default_reply=INSTANCES_REPLY, cut_off_markers=list(cut_off))
    llm.generation_kwargs = {"max_new_tokens": 64}
    task = GenerateInstances(name="generate_instances", llm=llm, num_examples=1, **kwargs)
    task.load()
    return task


@pytest.mark.parametrize(
    "settings",
    [{}, {"num_generations": 2}, {"num_generations": 2, "group_generations": True}],
    ids=["one", "two-generations", "grouped"],
)
def test_rows_are_distilabel_s_rows(settings: dict[str, Any]) -> None:
    ours = next(instances_task(**settings).process(INSTANCE_ROWS))
    # distilabel's own `Task.process` on an identical task: the same columns, metadata
    # (raw output, raw input, statistics) and values.
    theirs = next(Task.process(instances_task(**settings), INSTANCE_ROWS))
    assert ours == theirs
    metadata = ours[0]["distilabel_metadata"]
    if settings.get("group_generations"):
        assert len(metadata) == 2  # one per generation
        metadata = metadata[0]
    assert set(metadata) == {
        "raw_output_generate_instances",
        "raw_input_generate_instances",
        "statistics_generate_instances",
    }


def test_the_parser_learns_whether_each_reply_was_cut() -> None:
    first, second = next(instances_task(cut_off=("capital",)).process(INSTANCE_ROWS))
    # The reply to the first prompt is reported cut at the token limit: its last instance
    # goes, though it looks complete. The other ended by itself and keeps both.
    assert first["instances_incomplete"] == 1 and len(first["instances"]) == 1
    assert second["instances_incomplete"] == 0


def test_a_reply_format_output_cannot_parse_is_distilabel_s_row_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails(self: Any, output: Any, input: Any = None) -> dict[str, Any]:
        raise ValueError("unreadable")

    monkeypatch.setattr(GenerateInstances, "format_output", fails)
    ours = next(instances_task().process(INSTANCE_ROWS[:1]))
    theirs = next(Task.process(instances_task(), INSTANCE_ROWS[:1]))
    assert ours == theirs
    assert ours[0]["instances"] is None and ours[0]["model_name"] == "scripted"


def test_raw_input_and_output_follow_the_runtime_parameters() -> None:
    task = instances_task(add_raw_input=False, add_raw_output=False)
    (row, _) = next(task.process(INSTANCE_ROWS))
    assert set(row["distilabel_metadata"]) == {"statistics_generate_instances"}


def test_streamed_rows_have_the_shape_of_a_batch_s() -> None:
    def instructions(max_concurrency: int) -> list[dict[str, Any]]:
        step = GenerateInstructions(
            name="generate_instructions",
            llm=AsyncScriptedLLM(delay_s=0.01),
            max_concurrency=max_concurrency,
        )
        step.load()
        out = next(step.process_applying_mappings(rows(2)))
        deadline = time.monotonic() + 10
        while len(out) < 2 and time.monotonic() < deadline:
            out += next(step.process_applying_mappings([]))
            time.sleep(0.01)
        step.unload()
        return sorted(out, key=lambda row: row["prompt_id"])

    streamed, batch = instructions(8), instructions(1)
    assert [sorted(row) for row in streamed] == [sorted(row) for row in batch]
    assert streamed[0]["distilabel_metadata"] == batch[0]["distilabel_metadata"]
    assert streamed[0]["instruction_model"] == "async-scripted"
