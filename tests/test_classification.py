"""Classification identification: answer parsing, P(yes) from log-probabilities, the task."""

from __future__ import annotations

import math
import random

import pytest

from distilabel_selfinstruct.classification import (
    IdentifyClassification,
    parse_yes_no,
    pick_demonstrations,
    yes_probability,
)
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (" Yes", True),
        ("yes.", True),
        ("Yes, it is.", True),
        ("\nYES", True),
        ("**Yes**", True),
        ("TRUE", True),
        ("true", True),
        ("No,", False),
        (" no", False),
        ("False.", False),
        ("Maybe", None),
        ("Yesterday", None),
        ("Nope", None),
        ("Not sure", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_yes_no(reply: str | None, expected: bool | None) -> None:
    assert parse_yes_no(reply) is expected


def alternatives(**probabilities: float) -> list[list[dict]]:
    return [[{"token": token, "logprob": math.log(p)} for token, p in probabilities.items()]]


def test_yes_probability_from_top_logprobs() -> None:
    top = [
        [{"token": " Yes", "logprob": math.log(0.6)}, {"token": " No", "logprob": math.log(0.2)}]
    ]
    assert yes_probability(top) == pytest.approx(0.75)


def test_yes_probability_sums_spellings_and_skips_other_tokens() -> None:
    top = [
        [
            {"token": "Yes", "logprob": math.log(0.3)},
            {"token": " yes", "logprob": math.log(0.1)},
            {"token": " No", "logprob": math.log(0.1)},
            {"token": "\nNo", "logprob": math.log(0.1)},
            {"token": " Maybe", "logprob": math.log(0.3)},
        ],
        # Later tokens don't matter.
        [{"token": " No", "logprob": 0.0}],
    ]
    assert yes_probability(top) == pytest.approx(0.4 / 0.6)


def test_yes_probability_with_only_one_answer() -> None:
    assert yes_probability([[{"token": " No", "logprob": -0.1}]]) == 0.0
    assert yes_probability([[{"token": " Yes", "logprob": -3.0}]]) == 1.0


@pytest.mark.parametrize(
    "top",
    [[], [[]], [[{"token": " Maybe", "logprob": -0.1}, {"token": " The", "logprob": -1.0}]]],
)
def test_yes_probability_without_yes_or_no_is_none(top: list) -> None:
    assert yes_probability(top) is None


def test_pick_demonstrations_is_balanced_and_seeded() -> None:
    seeds = load_seed_tasks(bundled_seed_path())
    chosen = pick_demonstrations(seeds, 10, random.Random(3))
    assert len(chosen) == 10 and len({s.id for s in chosen}) == 10
    assert sum(s.is_classification for s in chosen) == 5
    assert chosen == pick_demonstrations(seeds, 10, random.Random(3))
    # More positives requested than exist: all of them, the rest negatives.
    positives = sum(s.is_classification for s in seeds)
    many = pick_demonstrations(seeds, 2 * positives + 10, random.Random(3))
    assert sum(s.is_classification for s in many) == positives
    assert len(many) == 2 * positives + 10


def make_task(**kwargs) -> IdentifyClassification:
    llm_kwargs = {
        k: kwargs.pop(k) for k in ("replies", "default_reply", "yes_logprob") if k in kwargs
    }
    task = IdentifyClassification(llm=ScriptedLLM(**llm_kwargs), **kwargs)
    task.load()
    return task


def test_decides_by_score_when_logprobs_are_available() -> None:
    # The sampled text disagrees with the log-probabilities: the score decides.
    task = make_task(default_reply=" No", yes_logprob=math.log(0.9))
    (row,) = next(task.process([{"instruction": "Is this email spam or not spam?"}]))
    assert row["is_classification"] is True
    assert row["classification_score"] == pytest.approx(0.9)
    assert not any(key.endswith("_logprobs") for key in row)

    task = make_task(default_reply=" Yes", yes_logprob=math.log(0.1))
    (row,) = next(task.process([{"instruction": "Write a poem about autumn."}]))
    assert row["is_classification"] is False
    assert row["classification_score"] == pytest.approx(0.1)


@pytest.mark.parametrize(("threshold", "expected"), [(0.4, True), (0.5, True), (0.51, False)])
def test_decision_threshold(threshold: float, expected: bool) -> None:
    # P(yes) is exactly 0.5 here: "at or above the threshold" counts as classification.
    task = make_task(default_reply=" Yes", yes_logprob=math.log(0.5), decision_threshold=threshold)
    (row,) = next(task.process([{"instruction": "Is this a fact or an opinion?"}]))
    assert row["is_classification"] is expected


def test_decides_by_text_without_logprobs() -> None:
    task = make_task(
        replies={"Task: Is this review": [" Yes"], "Task: Write a": [" No, it is not."]},
        default_reply=" Maybe",
    )
    rows = next(
        task.process(
            [
                {"instruction": "Is this review positive or negative?"},
                {"instruction": "Write a story about a dragon."},
                {"instruction": "Summarize the article."},
            ]
        )
    )
    assert [r["is_classification"] for r in rows] == [True, False, False]
    assert [r["classification_score"] for r in rows] == [1.0, 0.0, None]
    assert all(r["model_name"] == "scripted" for r in rows)


def test_default_generation_kwargs_ask_for_logprobs() -> None:
    task = make_task()
    assert task.llm.generation_kwargs["logprobs"] == 10
    assert task.llm.generation_kwargs["max_new_tokens"] == 2


@pytest.mark.parametrize("count", [6, 10])
def test_few_shot_prompt_holds_the_demonstrations(count: int) -> None:
    task = make_task(num_demonstrations=count)
    prompt = task.format_input({"instruction": "Is this email spam?"})
    assert isinstance(prompt, str)
    assert prompt.endswith("Task: Is this email spam?\nClassification:")
    assert prompt.count("Task: ") == count + 1
    assert prompt.count("Classification: Yes") == count // 2
    assert prompt.count("Classification: No") == count - count // 2
    # Same seed, same demonstrations.
    assert make_task(num_demonstrations=count).format_input({"instruction": "Q?"}) == (
        task.format_input({"instruction": "Q?"})
    )


def test_chat_prompt() -> None:
    task = make_task(prompt_style="chat", num_demonstrations=4)
    (message,) = task.format_input({"instruction": "Is this email spam?"})
    assert message["role"] == "user"
    assert "Answer: Yes" in message["content"] and "Answer: No" in message["content"]
    assert "Task: Is this email spam?" in message["content"]
