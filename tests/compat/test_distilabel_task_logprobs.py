"""The LLM's log-probabilities reach a task through the column compat/ names."""

from __future__ import annotations

import math
import warnings
from typing import Any

import distilabel
import pytest
from distilabel.steps.tasks import TextGeneration

from distilabel_selfinstruct.classification import IdentifyClassification
from distilabel_selfinstruct.compat import _guard
from distilabel_selfinstruct.compat import distilabel_task_logprobs as compat
from distilabel_selfinstruct.llm_task import LLMTask
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.usefixtures("isolated_env")


def scripted(reply: str = " No", p_yes: float = 0.9) -> ScriptedLLM:
    return ScriptedLLM(default_reply=reply, yes_logprob=math.log(p_yes))


def classify(**kwargs: Any) -> dict[str, Any]:
    task = IdentifyClassification(llm=scripted(), num_demonstrations=2, **kwargs)
    task.load()
    (rows,) = list(task.process([{"instruction": "Is this review positive?"}]))
    (row,) = rows
    return row


def test_distilabel_puts_the_llms_logprobs_in_the_column_compat_names() -> None:
    # distilabel's own `Task.process`, nothing of ours: fails if distilabel renames it.
    task = TextGeneration(llm=scripted())
    task.llm.generation_kwargs = {"logprobs": 2}
    task.load()
    (rows,) = list(task.process([{"instruction": "Say yes or no."}]))
    column = compat.llm_extra_column(task.name, "logprobs")
    assert [candidate["token"] for candidate in rows[0][column][0]] == [" Yes", " No"]


def test_the_classification_score_comes_from_the_logprobs() -> None:
    row = classify()
    # The reply says " No"; P(Yes) = 0.9 decides.
    assert row["classification_score"] == pytest.approx(0.9)
    assert row["is_classification"] is True
    assert not any(key.endswith("_logprobs") for key in row)


def test_without_the_hook_the_logprobs_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IdentifyClassification, "complete_row", LLMTask.complete_row)
    row = classify(name="classify")
    assert row["classification_score"] == 0.0 and row["is_classification"] is False
    # Left unused, they stay in the row under distilabel's own column name.
    assert row[compat.llm_extra_column("classify", "logprobs")]


def test_grouped_generations_are_scored_one_by_one() -> None:
    row = classify(num_generations=2, group_generations=True)
    assert row["classification_score"] == [pytest.approx(0.9)] * 2
    assert row["is_classification"] == [True, True]


def test_a_subclass_keeps_the_hook_and_distilabel_finds_its_input() -> None:
    class Stricter(IdentifyClassification):
        decision_threshold: float = 0.95

    task = Stricter(llm=scripted(), num_demonstrations=2)
    # Pipelines reject a step whose `process` has no live `StepInput` annotation.
    assert task.get_process_step_input() is not None
    task.load()
    (rows,) = list(task.process([{"instruction": "Is this review positive?"}]))
    assert rows[0]["is_classification"] is False  # 0.9 < 0.95: the subclass's threshold


def test_outside_the_checked_versions_it_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distilabel, "__version__", "1.6.0")
    monkeypatch.setattr(_guard, "_warned", set())
    with pytest.warns(RuntimeWarning, match="outside >=1.5.3,<1.6"):
        assert compat.llm_extra_column("step", "logprobs") == "llm_step_logprobs"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.llm_extra_column("step", "logprobs")


def test_inside_the_checked_versions_it_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_guard, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compat.llm_extra_column("step", "logprobs") == "llm_step_logprobs"
