"""The degenerate-text checks on their own, on the cases the issue quotes from a real run
(the fixture of real replies is in test_degenerate_fixture.py)."""

from __future__ import annotations

import pytest

from distilabel_selfinstruct.filters import degenerate
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks


def test_a_sentence_said_three_times_is_a_loop() -> None:
    text = " ".join(["Some items are sold at a higher price than others."] * 3)
    assert degenerate.repetition_score(text) > 0.6
    one = "Some items are sold at a higher price than others, because they cost more to make."
    assert degenerate.repetition_score(one) == 0.0


def test_a_list_with_a_shared_opening_is_not_a_loop() -> None:
    text = "1. Do you enjoy cooking?\n2. Do you like to eat out?\n3. How often do you eat out?"
    assert degenerate.repetition_score(text) < 0.5


def test_a_numbered_item_no_list_of_its_own_began_runs_on() -> None:
    text = "I would travel more and worry less.\n2. If you could do it over again, what would you change?"
    start = degenerate.run_on_start(text)
    assert start is not None and text[start:].startswith("2. If you could")
    assert degenerate.is_complete_answer(text[:start])


def test_an_own_numbered_list_does_not_run_on() -> None:
    assert degenerate.run_on_start("1. Apples\n2. Pears\n3. Plums") is None


def test_text_copied_from_a_demonstration_runs_on_from_its_line() -> None:
    demonstration = (
        "Hi,\n\nThank you for the detailed proposal. We have reviewed it and would like to"
        " schedule a call next week."
    )
    text = (
        "The meeting is on Monday.\nHi,\n\nThank you for the detailed proposal. We have reviewed it"
    )
    start = degenerate.run_on_start(text, demonstrations=(demonstration,))
    assert start is not None and text[start:].startswith("Hi,")
    # The task's own input may be quoted.
    assert degenerate.run_on_start(text, demonstrations=(demonstration,), own=(text,)) is None


def test_a_field_marker_runs_on_unless_the_task_speaks_of_that_field() -> None:
    text = "Paris is the capital.\nInstruction: Name a river."
    assert degenerate.run_on_start(text) == text.index("Instruction:")
    quiz = "Question: What is 2 + 2?\nAnswer: 4"
    assert degenerate.run_on_start(quiz, own=("Write a quiz question and its answer.",)) is None


def test_a_cut_is_kept_only_when_what_comes_before_is_a_whole_answer() -> None:
    assert degenerate.is_complete_answer("The answer is 42.")
    assert degenerate.is_complete_answer("Paris")
    assert not degenerate.is_complete_answer("The reason people move to the city is that")
    assert not degenerate.is_complete_answer("")


@pytest.mark.parametrize(
    ("text", "context", "found"),
    [
        ("Why did <em>Cyril</em> Lancelot Brown design it?", "", "<em>"),
        ("Answer: yes <end_of_turn>", "", "<end_of_turn>"),
        ("Use {{ name }} here.", "", "{{"),
        ("<nochoice>", "", "<nochoice>"),
        ("Wrap it in <b>bold</b>.", "Convert the text to HTML.", None),
        ("Use the <b> tag to make text bold in HTML.", "", None),
        ("a < b and c > d", "", None),
        ("No markup at all.", "", None),
    ],
)
def test_leftover_markup(text: str, context: str, found: str | None) -> None:
    assert degenerate.markup_found(text, context=context) == found


def test_an_output_that_repeats_its_instruction_restates_it() -> None:
    instruction = "Do you agree with this statement? Why or why not?"
    assert degenerate.restatement_score(instruction, instruction) == 1.0
    assert degenerate.restatement_score("I agree, because it is kind.", instruction) < 0.5
    # An answer that echoes its question answers it.
    assert (
        degenerate.restatement_score(
            "The capital of France is Paris.", "What is the capital of France?"
        )
        == 0.0
    )


@pytest.mark.parametrize(
    ("instruction", "labels", "implausible"),
    [
        ("Give me a list of all possible numbers between 1 and 60.", ["Number", "2", "4"], True),
        ("Write an email to your friend about your birthday.", ["Birthday", "Yes"], True),
        ("Explain why the sky is blue.", ["True", "False"], True),
        ("Is the review positive or negative?", ["Positive", "Negative"], False),
        ("Rate the answer from 1 to 5.", ["1", "4", "5"], False),
        ("Does the sentence contain a verb?", ["Yes", "No"], False),
    ],
)
def test_label_sets(instruction: str, labels: list[str], implausible: bool) -> None:
    assert (degenerate.label_set_problem(instruction, labels) is not None) is implausible


def test_no_bundled_classification_seed_has_an_implausible_label_set() -> None:
    # The human seeds are what a good label set looks like: the check must pass them all.
    for seed in load_seed_tasks(bundled_seed_path()):
        if seed.is_classification:
            outputs = [instance.output for instance in seed.instances]
            assert degenerate.label_set_problem(seed.instruction, outputs) is None, seed.id


def test_no_human_seed_instance_is_flagged_as_degenerate() -> None:
    from pathlib import Path

    from distilabel_selfinstruct.filters.instance_filters import (
        DegenerateChecks,
        degenerate_verdict,
    )

    paper = Path(__file__).resolve().parents[3] / "shared" / "data" / "seed_tasks.jsonl"
    for path in [bundled_seed_path(), *([paper] if paper.exists() else [])]:
        for seed in load_seed_tasks(path):
            if seed.is_classification:
                continue
            for instance in seed.instances:
                verdict = degenerate_verdict(
                    instance.to_dict(), seed.instruction, DegenerateChecks()
                )
                assert verdict.reason is None and not verdict.cut, (path.name, seed.id)
