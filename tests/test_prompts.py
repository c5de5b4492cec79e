"""Every prompt template renders with its context; a missing variable is an error."""

from __future__ import annotations

from importlib import resources

import pytest
from jinja2 import UndefinedError

from distilabel_selfinstruct.prompts import TEMPLATE_PACKAGE, load_template, render_prompt
from distilabel_selfinstruct.seeds import Instance, SeedTask

CLASSIFICATION_SEED = SeedTask(
    id="s1",
    name="sentiment",
    instruction="Label the sentiment as Positive or Negative.",
    instances=(Instance("I loved it.", "Positive"), Instance("It was dull.", "Negative")),
    is_classification=True,
)
OPEN_SEED = SeedTask(
    id="s2",
    name="poem",
    instruction="Write a two-line poem about the sea.",
    instances=(Instance("", "Waves fold in silver light,\nthe tide keeps time all night."),),
)
DEMONSTRATIONS = [f"Demonstration task number {i}." for i in range(1, 9)]

CONTEXTS: dict[str, dict] = {
    "instructions_completion": {"demonstrations": DEMONSTRATIONS},
    "instructions_chat": {"demonstrations": DEMONSTRATIONS, "num_instructions": 8},
    "classification_completion": {
        "examples": [CLASSIFICATION_SEED, OPEN_SEED],
        "instruction": "Is this email spam?",
    },
    "classification_chat": {
        "examples": [CLASSIFICATION_SEED, OPEN_SEED],
        "instruction": "Is this email spam?",
    },
    "instances_input_first_completion": {
        "examples": [OPEN_SEED],
        "instruction": "Add the two numbers.",
        "num_instances": 5,
    },
    "instances_input_first_chat": {
        "examples": [OPEN_SEED],
        "instruction": "Add the two numbers.",
        "num_instances": 5,
    },
    "instances_output_first_completion": {
        "examples": [CLASSIFICATION_SEED],
        "instruction": "Is this email spam?",
        "num_instances": 5,
    },
    "instances_output_first_chat": {
        "examples": [CLASSIFICATION_SEED],
        "instruction": "Is this email spam?",
        "num_instances": 5,
    },
}

# Variables each template must use; leaving one out must fail (not render as empty).
REQUIRED: dict[str, list[str]] = {
    "instructions_completion": ["demonstrations"],
    "instructions_chat": ["demonstrations", "num_instructions"],
    "classification_completion": ["examples", "instruction"],
    "classification_chat": ["examples", "instruction"],
    "instances_input_first_completion": ["examples", "instruction"],
    "instances_input_first_chat": ["examples", "instruction", "num_instances"],
    "instances_output_first_completion": ["examples", "instruction"],
    "instances_output_first_chat": ["examples", "instruction", "num_instances"],
}


def template_names() -> set[str]:
    files = resources.files(TEMPLATE_PACKAGE).iterdir()
    return {f.name.removesuffix(".jinja2") for f in files if f.name.endswith(".jinja2")}


def test_every_template_is_covered() -> None:
    assert template_names() == set(CONTEXTS)


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_template_renders(name: str) -> None:
    text = render_prompt(name, **CONTEXTS[name])
    context = CONTEXTS[name]
    if "instruction" in context:
        assert context["instruction"] in text
    for demonstration in context.get("demonstrations", []):
        assert demonstration in text
    for example in context.get("examples", []):
        assert example.instruction in text
    assert "Undefined" not in text and "{{" not in text


@pytest.mark.parametrize(
    ("name", "variable"),
    [(name, variable) for name, variables in sorted(REQUIRED.items()) for variable in variables],
)
def test_missing_variable_raises(name: str, variable: str) -> None:
    context = {key: value for key, value in CONTEXTS[name].items() if key != variable}
    with pytest.raises(UndefinedError):
        render_prompt(name, **context)


def test_completion_prompt_continues_the_list() -> None:
    text = render_prompt("instructions_completion", demonstrations=DEMONSTRATIONS)
    assert text.endswith("9.")
    lines = text.splitlines()
    assert lines[-9:-1] == [f"{i}. {d}" for i, d in enumerate(DEMONSTRATIONS, start=1)]


def test_chat_prompt_asks_for_the_count_and_continuation() -> None:
    text = render_prompt("instructions_chat", demonstrations=DEMONSTRATIONS[:6], num_instructions=4)
    assert "Write 4 new tasks" in text
    assert "continuing from 7" in text
    assert "6. Demonstration task number 6." in text


def test_classification_completion_prompt_ends_with_the_question() -> None:
    text = render_prompt("classification_completion", **CONTEXTS["classification_completion"])
    assert text.endswith("Task: Is this email spam?\nClassification:")
    assert "Classification: Yes" in text and "Classification: No" in text


def test_input_first_completion_prompt_prefills_the_first_input() -> None:
    text = render_prompt(
        "instances_input_first_completion", **CONTEXTS["instances_input_first_completion"]
    )
    assert text.endswith("Task: Add the two numbers.\nExample 1\nInput:")
    # An empty seed input is shown as the <noinput> marker.
    assert "Input: <noinput>" in text


def test_output_first_completion_prompt_prefills_the_label() -> None:
    text = render_prompt(
        "instances_output_first_completion", **CONTEXTS["instances_output_first_completion"]
    )
    assert text.endswith("Task: Is this email spam?\nClass label:")
    assert "Class label: Positive\nInput: I loved it." in text


def test_templates_are_cached() -> None:
    assert load_template("instructions_chat") is load_template("instructions_chat")
