"""Every prompt template renders all of its context, in order; a missing variable is an error.

`check_prompt` states what a rendered prompt must show; `test_check_prompt_catches_broken_template`
proves it fails on templates with one bug introduced.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
from jinja2 import Environment, StrictUndefined, UndefinedError

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
NO_INPUT_CLASSIFICATION_SEED = SeedTask(
    id="s3",
    name="coin",
    instruction="Say whether a tossed coin landed heads or tails.",
    instances=(Instance("", "Heads"),),
    is_classification=True,
)
DEMONSTRATIONS = [f"Demonstration task number {i}." for i in range(1, 9)]

CONTEXTS: dict[str, dict] = {
    "instructions_completion": {"demonstrations": DEMONSTRATIONS, "topic": None},
    "instructions_chat": {
        "demonstrations": DEMONSTRATIONS,
        "instructions_per_prompt": 13,
        "topic": None,
    },
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
        "examples": [CLASSIFICATION_SEED, NO_INPUT_CLASSIFICATION_SEED],
        "instruction": "Is this email spam?",
        "num_instances": 5,
    },
    "instances_output_first_chat": {
        "examples": [CLASSIFICATION_SEED, NO_INPUT_CLASSIFICATION_SEED],
        "instruction": "Is this email spam?",
        "num_instances": 5,
    },
    "judge": {
        "instruction": "Add the two numbers.",
        "instances": [{"input": "2 3", "output": "5"}, {"input": "", "output": "7"}],
        "completion": True,
        "max_rationale_words": 17,
    },
}

# Variables each template must use; leaving one out must fail (not render as empty).
REQUIRED: dict[str, list[str]] = {
    "instructions_completion": ["demonstrations", "topic"],
    "instructions_chat": ["demonstrations", "instructions_per_prompt", "topic"],
    "classification_completion": ["examples", "instruction"],
    "classification_chat": ["examples", "instruction"],
    "instances_input_first_completion": ["examples", "instruction"],
    "instances_input_first_chat": ["examples", "instruction", "num_instances"],
    "instances_output_first_completion": ["examples", "instruction"],
    "instances_output_first_chat": ["examples", "instruction", "num_instances"],
    "judge": ["instruction", "instances", "completion", "max_rationale_words"],
}


def template_names() -> set[str]:
    files = resources.files(TEMPLATE_PACKAGE).iterdir()
    return {f.name.removesuffix(".jinja2") for f in files if f.name.endswith(".jinja2")}


def test_every_template_is_covered() -> None:
    assert template_names() == set(CONTEXTS)


def check_prompt(name: str, text: str, context: dict) -> None:
    """Asserts what every rendered prompt must show of its context, in order."""
    # No template syntax left over: `{{`, `{%`, `{#` or a `{name}` placeholder
    # (sound because no context value contains a brace, see below).
    assert "{" not in text and "}" not in text, text
    lines = text.splitlines()
    demonstrations = context.get("demonstrations", [])
    if demonstrations:
        numbered = [line for line in lines if re.match(r"\d+\. ", line)]
        assert numbered == [f"{i}. {d}" for i, d in enumerate(demonstrations, start=1)]
    # A count asked for appears once, as a number (the values are chosen to occur nowhere else).
    for key in ("instructions_per_prompt", "num_instances", "max_rationale_words"):
        if key in REQUIRED[name]:
            assert len(re.findall(rf"\b{context[key]}\b", text)) == 1, key
    if name == "judge":
        # Every instance numbered from 1, input (or the marker) then output; the task above.
        assert f"Task: {context['instruction']}\n" in text
        for k, instance in enumerate(context["instances"], start=1):
            shown_input = instance["input"] or "<noinput>"
            assert f"Example {k}\nInput: {shown_input}\nOutput: {instance['output']}\n" in text
        assert text.rstrip().endswith("JSON:") == context["completion"]
        return
    if "examples" not in context:
        return
    examples = context["examples"]
    # Each example is one "Task:" block, in order, and the new task comes last.
    blocks = re.split(r"^Task: ", text, flags=re.MULTILINE)[1:]
    assert [block.split("\n", 1)[0] for block in blocks] == [
        *(example.instruction for example in examples),
        context["instruction"],
    ]
    for example, block in zip(examples, blocks, strict=False):
        if name.startswith("classification_"):
            label, other = ("Yes", "No") if example.is_classification else ("No", "Yes")
            assert re.search(rf"^\w+: {label}$", block, re.MULTILINE), block
            assert not re.search(rf"^\w+: {other}$", block, re.MULTILINE), block
            continue
        shown = []
        for k, instance in enumerate(example.instances, start=1):
            shown_input = instance.input or "<noinput>"
            if name.startswith("instances_input_first_"):
                shown.append(f"Example {k}\nInput: {shown_input}\nOutput: {instance.output}\n")
            else:
                shown.append(f"Class label: {instance.output}\nInput: {shown_input}\n")
        assert block.split("\n", 1)[1].strip("\n") == "".join(shown).strip("\n")


def context_texts(context: dict) -> list[str]:
    texts = [value for value in context.values() if isinstance(value, str)]
    texts += context.get("demonstrations", [])
    for example in context.get("examples", []):
        texts.append(example.instruction)
        texts += [field for instance in example.instances for field in instance.to_dict().values()]
    return texts


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_contexts_have_no_braces(name: str) -> None:
    # check_prompt's brace assertion relies on it.
    texts = context_texts(CONTEXTS[name])
    assert texts and not any("{" in text or "}" in text for text in texts)


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_template_renders(name: str) -> None:
    check_prompt(name, render_prompt(name, **CONTEXTS[name]), CONTEXTS[name])


# Template bugs check_prompt must catch: (what, text in the template, replacement).
MUTATIONS = [
    ("numbering starts at 0", "{{ loop.index }}", "{{ loop.index0 }}"),
    ("demonstration left as a placeholder", "{{ demonstration }}", "{demonstration}"),
    ("instruction left as a placeholder", "{{ instruction }}", "{instruction}"),
    ("count left as a placeholder", "{{ num_instances }}", "{num_instances}"),
    ("count left as a placeholder", "{{ instructions_per_prompt }}", "{instructions_per_prompt}"),
    ("an example dropped", "in examples -%}", "in examples[1:] -%}"),
    ("wrong example field", "{{ example.instruction }}", "{{ example.name }}"),
    ("labels inverted", '"Yes" if example.is_classification else "No"', '"No"'),
    ("output shown as the input", "{{ instance.output }}", "{{ instance.input }}"),
    ("no <noinput> marker", 'instance.input if instance.input else "<noinput>"', "instance.input"),
]


def template_source(name: str) -> str:
    return resources.files(TEMPLATE_PACKAGE).joinpath(f"{name}.jinja2").read_text("utf-8")


def applicable_mutations() -> list:
    return [
        pytest.param(name, what, old, new, id=f"{name}: {what}")
        for name in sorted(CONTEXTS)
        for what, old, new in MUTATIONS
        if old in template_source(name)
    ]


def test_every_template_has_mutations() -> None:
    covered = {param.values[0] for param in applicable_mutations()}
    assert covered == set(CONTEXTS)


@pytest.mark.parametrize(("name", "what", "old", "new"), applicable_mutations())
def test_check_prompt_catches_broken_template(name: str, what: str, old: str, new: str) -> None:
    # check_prompt can fail: the same template with one bug introduced must not pass.
    environment = Environment(undefined=StrictUndefined, autoescape=False)
    broken = environment.from_string(template_source(name).replace(old, new))
    text = broken.render(**CONTEXTS[name])
    assert text != render_prompt(name, **CONTEXTS[name]), f"mutation {what!r} changes nothing"
    with pytest.raises(AssertionError):
        check_prompt(name, text, CONTEXTS[name])


@pytest.mark.parametrize(
    ("name", "variable"),
    [(name, variable) for name, variables in sorted(REQUIRED.items()) for variable in variables],
)
def test_missing_variable_raises(name: str, variable: str) -> None:
    context = {key: value for key, value in CONTEXTS[name].items() if key != variable}
    with pytest.raises(UndefinedError):
        render_prompt(name, **context)


def test_completion_prompt_continues_the_list() -> None:
    text = render_prompt("instructions_completion", demonstrations=DEMONSTRATIONS, topic=None)
    assert text.endswith("9.")
    lines = text.splitlines()
    assert lines[-9:-1] == [f"{i}. {d}" for i, d in enumerate(DEMONSTRATIONS, start=1)]


@pytest.mark.parametrize("name", ["instructions_completion", "instructions_chat"])
def test_a_topic_steers_the_instruction_prompt(name: str) -> None:
    context = {**CONTEXTS[name], "topic": "Cooking / Baking"}
    text = render_prompt(name, **context)
    assert "Cooking / Baking" in text
    assert "Cooking / Baking" not in render_prompt(name, **CONTEXTS[name])


def test_chat_prompt_asks_for_the_count_and_continuation() -> None:
    text = render_prompt(
        "instructions_chat",
        demonstrations=DEMONSTRATIONS[:6],
        instructions_per_prompt=4,
        topic=None,
    )
    assert "Write 4 new tasks" in text
    assert "must be about this topic" not in text
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
