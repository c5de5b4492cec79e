"""Instance generation: parsing real-looking replies and choosing the prompt per task kind."""

from __future__ import annotations

import pytest

from distilabel_selfinstruct.instances import (
    GenerateInstances,
    ParsedInstances,
    parse_input_first,
    parse_output_first,
)
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.usefixtures("isolated_env")

# -- parse_input_first ---------------------------------------------------------------------


def test_input_first_prefilled_continuation() -> None:
    # The prompt ended with "Example 1\nInput:".
    reply = (
        " The sky is Blue today.\nOutput: Blue\nExample 2\nInput: Grass is green.\nOutput: green\n"
    )
    assert parse_input_first(reply, prefilled=True) == ParsedInstances(
        instances=[
            {"input": "The sky is Blue today.", "output": "Blue"},
            {"input": "Grass is green.", "output": "green"},
        ]
    )


def test_input_first_noinput() -> None:
    reply = (
        " <noinput>\nOutput: Paris is the capital of France.\n"
        "Example 2\nInput: <NoInput>\nOutput: Rome is the capital of Italy.\n"
    )
    parsed = parse_input_first(reply, prefilled=True)
    assert [i["input"] for i in parsed.instances] == ["", ""]
    assert [i["output"] for i in parsed.instances] == [
        "Paris is the capital of France.",
        "Rome is the capital of Italy.",
    ]


def test_input_first_multiline_input_and_output() -> None:
    reply = " 18/24\n35/49\nOutput: 18/24 = 3/4\n35/49 = 5/7\n"
    assert parse_input_first(reply, prefilled=True).instances == [
        {"input": "18/24\n35/49", "output": "18/24 = 3/4\n35/49 = 5/7"}
    ]


def test_input_first_truncated_last_block_is_counted() -> None:
    reply = " 2 + 2\nOutput: 4\nExample 2\nInput: 3 + 5\nOutput: 8\nExample 3\nInput: 7 +"
    parsed = parse_input_first(reply, prefilled=True)
    assert parsed.instances == [
        {"input": "2 + 2", "output": "4"},
        {"input": "3 + 5", "output": "8"},
    ]
    assert parsed.incomplete == 1


def test_input_first_output_cut_mid_sentence() -> None:
    reply = (
        " France\nOutput: Paris is its capital.\nExample 2\nInput: Italy\nOutput: Rome is its capi"
    )
    parsed = parse_input_first(reply, prefilled=True)
    assert parsed.instances == [{"input": "France", "output": "Paris is its capital."}]
    assert parsed.incomplete == 1


def test_input_first_stops_at_a_new_task() -> None:
    reply = (
        " 2 + 2\nOutput: 4\nExample 2\nInput: 3 + 5\nOutput: 8\n\n"
        "Task: Write a poem about dogs.\nExample 1\nInput: <noinput>\nOutput: Dogs bark.\n"
    )
    parsed = parse_input_first(reply, prefilled=True)
    assert parsed.instances == [
        {"input": "2 + 2", "output": "4"},
        {"input": "3 + 5", "output": "8"},
    ]
    assert parsed.incomplete == 0


def test_input_first_missing_output() -> None:
    reply = " 2 + 2\nExample 2\nInput: 3 + 5\nOutput: 8\n"
    parsed = parse_input_first(reply, prefilled=True)
    assert parsed.instances == [{"input": "3 + 5", "output": "8"}]
    assert parsed.incomplete == 1


def test_input_first_not_prefilled() -> None:
    reply = "Example 1\nInput: a cat\nOutput: un chat\nExample 2\nInput: a dog\nOutput: un chien\n"
    assert parse_input_first(reply, prefilled=False).instances == [
        {"input": "a cat", "output": "un chat"},
        {"input": "a dog", "output": "un chien"},
    ]


def test_input_first_echoed_noinput_output_is_empty() -> None:
    parsed = parse_input_first(" hello\nOutput: <noinput>\n", prefilled=True)
    assert parsed.instances == [{"input": "hello", "output": ""}]


@pytest.mark.parametrize("reply", ["", None, "  \n"])
def test_input_first_empty(reply: str | None) -> None:
    assert parse_input_first(reply, prefilled=True) == ParsedInstances()


def test_input_first_garbage() -> None:
    parsed = parse_input_first("I cannot help with that", prefilled=False)
    assert parsed.instances == [] and parsed.incomplete == 1


# -- parse_output_first --------------------------------------------------------------------


def test_output_first_prefilled_continuation() -> None:
    # The prompt ended with "Class label:".
    reply = (
        " Positive\nInput: I loved this movie.\nClass label: Negative\nInput: The plot was dull.\n"
    )
    parsed = parse_output_first(reply, prefilled=True)
    assert parsed == ParsedInstances(
        instances=[
            {"input": "I loved this movie.", "output": "Positive"},
            {"input": "The plot was dull.", "output": "Negative"},
        ],
        labels=["Positive", "Negative"],
    )


def test_output_first_noinput() -> None:
    parsed = parse_output_first(" True\nInput: <noinput>\n", prefilled=True)
    assert parsed.instances == [{"input": "", "output": "True"}]


def test_output_first_truncated_last_block_is_counted() -> None:
    reply = " Positive\nInput: I loved this movie.\nClass label: Negative\nInput: The plot was d"
    parsed = parse_output_first(reply, prefilled=True)
    assert parsed.instances == [{"input": "I loved this movie.", "output": "Positive"}]
    assert parsed.incomplete == 1


def test_output_first_label_without_input() -> None:
    reply = " Positive\nInput: I loved it.\nClass label: Negative\n"
    parsed = parse_output_first(reply, prefilled=True)
    assert parsed.instances == [{"input": "I loved it.", "output": "Positive"}]
    assert parsed.labels == ["Positive"]
    assert parsed.incomplete == 1


def test_output_first_empty_label() -> None:
    reply = " Positive\nInput: I loved it.\nClass label: \nInput: Boring.\n"
    parsed = parse_output_first(reply, prefilled=True)
    assert parsed.labels == ["Positive"] and parsed.incomplete == 1


def test_output_first_duplicate_labels_are_unique_in_order() -> None:
    reply = (
        " Positive\nInput: I loved it.\nClass label: Negative\nInput: Boring.\n"
        "Class label: Positive\nInput: Great fun!\nClass label: Neutral\nInput: It was fine.\n"
    )
    parsed = parse_output_first(reply, prefilled=True)
    assert parsed.labels == ["Positive", "Negative", "Neutral"]
    assert [i["output"] for i in parsed.instances] == [
        "Positive",
        "Negative",
        "Positive",
        "Neutral",
    ]


def test_output_first_stops_at_a_new_task() -> None:
    reply = (
        " Spam\nInput: WIN A FREE iPhone!!!\nClass label: Not Spam\nInput: Lunch at noon?\n\n"
        "Task: Classify the color.\nClass label: Red\nInput: apple\n"
    )
    parsed = parse_output_first(reply, prefilled=True)
    assert parsed.labels == ["Spam", "Not Spam"]
    # Case is kept.
    assert parsed.instances[0] == {"input": "WIN A FREE iPhone!!!", "output": "Spam"}


@pytest.mark.parametrize("reply", ["", None])
def test_output_first_empty(reply: str | None) -> None:
    assert parse_output_first(reply, prefilled=True) == ParsedInstances()


# -- GenerateInstances ---------------------------------------------------------------------

CLASSIFICATION_REPLY = " Positive\nInput: Good.\nClass label: Negative\nInput: Bad.\n"
OPEN_REPLY = " 2 + 2\nOutput: 4\nExample 2\nInput: 3 + 3\nOutput: 6\n"


def make_task(**kwargs) -> GenerateInstances:
    llm = ScriptedLLM(replies={"\nClass label:": [CLASSIFICATION_REPLY]}, default_reply=OPEN_REPLY)
    task = GenerateInstances(llm=llm, **kwargs)
    task.load()
    return task


def test_classification_rows_are_generated_output_first() -> None:
    task = make_task()
    prompt = task.format_input(
        {"instruction": "Classify the sentiment.", "is_classification": True}
    )
    assert prompt.endswith("Task: Classify the sentiment.\nClass label:")
    prompt = task.format_input({"instruction": "Add the numbers.", "is_classification": False})
    assert prompt.endswith("Task: Add the numbers.\nExample 1\nInput:")


def test_demonstrations_match_the_task_kind() -> None:
    task = make_task(num_examples=3)
    kinds = {
        seed.instruction: seed.is_classification for seed in load_seed_tasks(bundled_seed_path())
    }
    for is_classification in (True, False):
        examples = task.examples_for("Some task.", is_classification)
        assert len(examples) == 3
        assert all(kinds[e.instruction] is is_classification for e in examples)
        assert all(e.instances for e in examples)


def test_demonstrations_are_deterministic() -> None:
    first, second = make_task(), make_task()
    row = {"instruction": "Add the numbers.", "is_classification": False}
    assert first.format_input(row) == second.format_input(row)
    assert first.examples_for("Add the numbers.", False) == first.examples_for(
        "Add the numbers.", False
    )
    # Another task or another seed gives other demonstrations.
    assert first.examples_for("Name a river.", False) != first.examples_for(
        "Add the numbers.", False
    )
    assert make_task(random_seed=7).format_input(row) != first.format_input(row)


def test_process_parses_by_task_kind() -> None:
    task = make_task()
    rows = next(
        task.process(
            [
                {"instruction": "Classify the sentiment.", "is_classification": True},
                {"instruction": "Add the numbers.", "is_classification": False},
            ]
        )
    )
    assert rows[0]["instances"] == [
        {"input": "Good.", "output": "Positive"},
        {"input": "Bad.", "output": "Negative"},
    ]
    assert rows[0]["labels"] == ["Positive", "Negative"]
    assert rows[1]["instances"] == [
        {"input": "2 + 2", "output": "4"},
        {"input": "3 + 3", "output": "6"},
    ]
    assert rows[1]["labels"] == []
    assert [r["instances_incomplete"] for r in rows] == [0, 0]
    assert [r["model_name"] for r in rows] == ["scripted", "scripted"]


def test_chat_style_asks_for_num_instances() -> None:
    task = make_task(prompt_style="chat", num_instances=3)
    (message,) = task.format_input(
        {"instruction": "Classify the sentiment.", "is_classification": True}
    )
    assert message["role"] == "user"
    assert "Use up to 3 labels" in message["content"]
    (message,) = task.format_input({"instruction": "Add the numbers.", "is_classification": False})
    assert "Create up to 3 examples" in message["content"]
    # A chat reply isn't prefilled: it starts with the first label.
    assert task.format_output(
        "Class label: Yes\nInput: x.\nClass label: No\nInput: y.\n",
        {"is_classification": True},
    )["labels"] == ["Yes", "No"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Chat models often skip the "Example N" headers...
        (
            "Input: 2+2\nOutput: 4\n\nInput: 3+3\nOutput: 6",
            [{"input": "2+2", "output": "4"}, {"input": "3+3", "output": "6"}],
        ),
        # ...or wrap the markers in markdown.
        (
            "**Example 1**\n**Input:** 2+2\n**Output:** 4\n"
            "**Example 2**\n**Input:** <noinput>\n**Output:** 6\n",
            [{"input": "2+2", "output": "4"}, {"input": "", "output": "6"}],
        ),
    ],
)
def test_chat_style_input_first_replies(reply: str, expected: list[dict]) -> None:
    assert parse_input_first(reply, prefilled=False, complete=True).instances == expected


def test_numbered_class_labels() -> None:
    reply = "1. Class label: Positive\nInput: great\n2. Class label: Negative\nInput: awful\n"
    parsed = parse_output_first(reply, prefilled=False)
    assert parsed.labels == ["Positive", "Negative"]
    assert parsed.instances == [
        {"input": "great", "output": "Positive"},
        {"input": "awful", "output": "Negative"},
    ]


def test_a_reply_cut_at_the_token_limit_loses_its_last_block_even_if_alone() -> None:
    assert (
        parse_input_first(
            " The cat sat.\nOutput: Le chat", prefilled=True, complete=False
        ).instances
        == []
    )
    kept = parse_input_first(" The cat sat.\nOutput: Le chat", prefilled=True, complete=True)
    assert kept.instances == [{"input": "The cat sat.", "output": "Le chat"}]
