"""Instruction generation: parsing real-looking replies, the task, and the split into rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.instructions import (
    GenerateInstructions,
    ParsedList,
    SplitInstructions,
    parse_numbered_list,
)
from distilabel_selfinstruct.pool import candidate_id_for, open_pool_store
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.usefixtures("isolated_env")

DEMONSTRATIONS = [
    "Name three primary colors.",
    "Summarize the paragraph in one sentence.",
    "Is this review positive or negative?",
    "Convert 5 miles to kilometers.",
    "Write a limerick about a cat.",
    "Explain what a black hole is to a child.",
    "Sort the numbers from smallest to largest.",
    "Suggest a name for a bakery.",
]


# -- parse_numbered_list -----------------------------------------------------------------


def test_completion_continuation_drops_the_truncated_last_item() -> None:
    # The prompt ended with "9."; the reply continues item 9 and is cut by the token limit.
    parsed = parse_numbered_list(
        " Describe the water cycle.\n10. List two uses of baking soda.\n11. Do", first_number=9
    )
    assert parsed == ParsedList(
        items=["Describe the water cycle.", "List two uses of baking soda."], truncated=1
    )


def test_reply_ending_with_a_newline_is_complete() -> None:
    parsed = parse_numbered_list(" Describe the water cycle\n10. Give a synonym for big\n", 9)
    assert parsed.items == ["Describe the water cycle", "Give a synonym for big"]
    assert parsed.truncated == 0


def test_unterminated_last_item_without_punctuation_is_truncated() -> None:
    parsed = parse_numbered_list(" Describe the water cycle.\n10. Give a synonym for", 9)
    assert parsed.items == ["Describe the water cycle."]
    assert parsed.truncated == 1
    # Unless the caller knows the reply ended by itself.
    complete = parse_numbered_list(" Describe the water cycle.\n10. Give a synonym for", 9, True)
    assert complete.items == ["Describe the water cycle.", "Give a synonym for"]
    assert complete.truncated == 0


@pytest.mark.parametrize("ending", ["?", "!", '"', ")", ":"])
def test_closing_punctuation_counts_as_complete(ending: str) -> None:
    parsed = parse_numbered_list(f" Do X.\n10. What is the largest planet{ending}", 9)
    assert parsed.items[-1] == f"What is the largest planet{ending}"
    assert parsed.truncated == 0


def test_chat_reply_with_preamble() -> None:
    reply = (
        "Sure! Here are new tasks:\n"
        "9. Compare the iPhone and a Pixel phone in three bullet points.\n"
        "10. Explain what NASA does in two sentences.\n"
        "11. Translate 'good morning' into French.\n"
    )
    parsed = parse_numbered_list(reply)
    assert parsed.items == [
        "Compare the iPhone and a Pixel phone in three bullet points.",
        "Explain what NASA does in two sentences.",
        "Translate 'good morning' into French.",
    ]
    assert parsed.truncated == 0 and parsed.empty == 0


def test_markdown_bold_numbers() -> None:
    reply = "**10.** Explain recursion with an example.\n**11.** List three prime numbers.\n"
    assert parse_numbered_list(reply).items == [
        "Explain recursion with an example.",
        "List three prime numbers.",
    ]


def test_parenthesis_numbers() -> None:
    reply = "10) Explain recursion with an example.\n11) List three prime numbers.\n"
    assert parse_numbered_list(reply).items == [
        "Explain recursion with an example.",
        "List three prime numbers.",
    ]


def test_numbering_that_restarts_ends_the_list() -> None:
    reply = (
        " Describe the water cycle.\n10. Name a mammal that lays eggs.\n"
        "1. Preheat the oven.\n2. Mix the flour.\n"
    )
    parsed = parse_numbered_list(reply, first_number=9)
    assert parsed.items == ["Describe the water cycle.", "Name a mammal that lays eggs."]


def test_blank_line_commentary_after_the_list_is_ignored() -> None:
    reply = (
        "9. Name a mammal that lays eggs.\n10. Give an antonym of 'ancient'.\n\n"
        "I hope these tasks are useful! Let me know if you need more"
    )
    parsed = parse_numbered_list(reply)
    assert parsed.items == ["Name a mammal that lays eggs.", "Give an antonym of 'ancient'."]
    assert parsed.truncated == 0


def test_item_followed_by_blank_line_is_complete_without_punctuation() -> None:
    reply = (
        "9. Name a mammal that lays eggs\n10. Give an antonym of ancient\n\n"
        "Let me know if you need more."
    )
    parsed = parse_numbered_list(reply)
    assert parsed.items == ["Name a mammal that lays eggs", "Give an antonym of ancient"]
    assert parsed.truncated == 0


def test_continuation_lines_are_joined() -> None:
    reply = "10. Explain the rule below:\n    every x must be positive.\n11. Name a river.\n"
    assert parse_numbered_list(reply).items == [
        "Explain the rule below: every x must be positive.",
        "Name a river.",
    ]


def test_numbers_inside_an_item_are_not_markers() -> None:
    reply = "10. Convert 3.5 kg to pounds.\n11. Add 2.5 and 10.25.\n"
    assert parse_numbered_list(reply).items == ["Convert 3.5 kg to pounds.", "Add 2.5 and 10.25."]


def test_empty_items_are_counted() -> None:
    parsed = parse_numbered_list(" Do X now.\n10.\n11. Do Z now.\n", first_number=9)
    assert parsed.items == ["Do X now.", "Do Z now."]
    assert parsed.empty == 1


def test_garbage_without_numbers() -> None:
    garbage = "lorem ipsum dolor sit amet"
    assert parse_numbered_list(garbage) == ParsedList()
    # As a continuation it is an unterminated item 9.
    assert parse_numbered_list(garbage, first_number=9) == ParsedList(truncated=1)
    assert parse_numbered_list("- Do X.\n- Do Y.\n").items == []


@pytest.mark.parametrize("reply", ["", None, "   \n\t"])
def test_empty_or_missing_reply(reply: str | None) -> None:
    assert parse_numbered_list(reply) == ParsedList()
    assert parse_numbered_list(reply, first_number=9) == ParsedList()


def test_case_is_never_altered() -> None:
    reply = (
        " Compare the iPhone 15 with the iPad.\n"
        "10. What does NASA's JPL build?\n"
        "11. Explain eBay's FEES.\n"
    )
    parsed = parse_numbered_list(reply, first_number=9)
    assert parsed.items == [
        "Compare the iPhone 15 with the iPad.",
        "What does NASA's JPL build?",
        "Explain eBay's FEES.",
    ]


# -- GenerateInstructions ------------------------------------------------------------------


def make_task(reply: str, cut_off: bool = True, **kwargs) -> GenerateInstructions:
    llm = ScriptedLLM(default_reply=reply, cut_off_markers=[""] if cut_off else [])
    task = GenerateInstructions(llm=llm, **kwargs)
    task.load()
    return task


def test_format_input_completion_style() -> None:
    task = make_task("")
    prompt = task.format_input({"demonstrations": DEMONSTRATIONS})
    assert isinstance(prompt, str)
    assert prompt.endswith("8. Suggest a name for a bakery.\n9.")
    assert "1. Name three primary colors." in prompt


def test_format_input_chat_style() -> None:
    task = make_task("", prompt_style="chat", instructions_per_prompt=5)
    prompt = task.format_input({"demonstrations": DEMONSTRATIONS})
    assert isinstance(prompt, list) and len(prompt) == 1
    assert prompt[0]["role"] == "user"
    assert "Write 5 new tasks" in prompt[0]["content"]
    assert "continuing from 9" in prompt[0]["content"]
    assert "8. Suggest a name for a bakery." in prompt[0]["content"]


def test_load_sets_default_generation_kwargs_without_overriding_the_users() -> None:
    llm = ScriptedLLM(generation_kwargs={"temperature": 0.3})
    task = GenerateInstructions(llm=llm)
    task.load()
    assert llm.generation_kwargs["temperature"] == 0.3
    assert llm.generation_kwargs["max_new_tokens"] == 384
    assert "stop" in llm.generation_kwargs


def test_process_completion_rows() -> None:
    task = make_task(" Describe the water cycle.\n10. List two uses of baking soda.\n11. Do")
    rows = [{"demonstrations": DEMONSTRATIONS}, {"demonstrations": DEMONSTRATIONS[:4]}]
    out = next(task.process(rows))
    assert len(out) == 2
    for row in out:
        assert row["instructions"] == ["Describe the water cycle.", "List two uses of baking soda."]
        assert row["instructions_truncated"] == 1
        assert row["model_name"] == "scripted"
        assert row["demonstrations"] in (DEMONSTRATIONS, DEMONSTRATIONS[:4])
    assert task.llm.prompts[0].endswith("\n9.")
    assert task.llm.prompts[1].endswith("\n5.")


def test_process_chat_rows_skip_the_preamble() -> None:
    reply = "Sure! Here are new tasks:\n9. Explain what NASA does.\n10. Name an iPhone app.\n"
    task = make_task(reply, prompt_style="chat")
    (row,) = next(task.process([{"demonstrations": DEMONSTRATIONS}]))
    assert row["instructions"] == ["Explain what NASA does.", "Name an iPhone app."]
    assert row["instructions_truncated"] == 0


def test_process_garbage_reply_gives_an_empty_list() -> None:
    task = make_task("I am not sure what you would like me to do", prompt_style="chat")
    (row,) = next(task.process([{"demonstrations": DEMONSTRATIONS}]))
    assert row["instructions"] == [] and row["instructions_truncated"] == 0


# -- SplitInstructions ---------------------------------------------------------------------


def split_rows() -> list[dict]:
    return [
        {
            "prompt_id": "r2p0",
            "bootstrap_round": 2,
            "demonstrations": DEMONSTRATIONS,
            "demonstration_ids": [f"seed_task_{i}" for i in range(8)],
            "instructions": ["Name a river in Asia.", "Explain photosynthesis briefly."],
            "instructions_truncated": 1,
        },
        {"prompt_id": "r2p1", "bootstrap_round": 2, "instructions": []},
        {"prompt_id": "r2p2", "bootstrap_round": 2, "instructions": ["Write a haiku about snow."]},
    ]


def make_split(**kwargs) -> SplitInstructions:
    step = SplitInstructions(**kwargs)
    step.load()
    return step


def test_split_expands_rows_with_stable_candidate_ids() -> None:
    out = next(make_split().process(split_rows()))
    assert [row["instruction"] for row in out] == [
        "Name a river in Asia.",
        "Explain photosynthesis briefly.",
        "Write a haiku about snow.",
    ]
    assert [row["candidate_id"] for row in out] == [
        candidate_id_for("r2p0", 0, "Name a river in Asia."),
        candidate_id_for("r2p0", 1, "Explain photosynthesis briefly."),
        candidate_id_for("r2p2", 0, "Write a haiku about snow."),
    ]
    assert len({row["candidate_id"] for row in out}) == 3
    # Demonstrations are not carried along; the round and prompt are.
    for row in out:
        assert "instructions" not in row and "demonstrations" not in row
        assert "demonstration_ids" not in row
        assert row["bootstrap_round"] == 2
    assert out[0]["prompt_id"] == "r2p0" and out[0]["instructions_truncated"] == 1
    # A second step (a rerun) gives the same ids.
    again = next(make_split().process(split_rows()))
    assert [r["candidate_id"] for r in again] == [r["candidate_id"] for r in out]


def test_split_records_unparseable_replies(pool_path: Path) -> None:
    step = make_split(run=BootstrapRun(pool_path=str(pool_path)))
    next(step.process(split_rows()))
    assert step.drop_counts == {"unparseable_reply": 1}
    with open_pool_store(pool_path) as store:
        assert store.drop_counts() == {("generation", "unparseable_reply"): 1}
        (drop,) = store.drops()
        assert drop["candidate_id"] == "r2p1" and drop["bootstrap_round"] == 2
    # A replayed batch doesn't count twice in the store.
    next(step.process(split_rows()))
    step.unload()
    with open_pool_store(pool_path) as store:
        assert store.drop_counts() == {("generation", "unparseable_reply"): 1}


def test_split_without_a_run_only_counts() -> None:
    step = make_split()
    out = next(step.process([{"prompt_id": "r0p0", "instructions": None}]))
    assert out == []
    assert step.drop_counts == {"unparseable_reply": 1}


def test_a_reply_that_ended_by_itself_keeps_its_unpunctuated_last_item() -> None:
    # Stop sequences are not part of the text: "Name a car" ended at the "\n\n" stop, which
    # the token count (below the limit) tells apart from a cut-off reply.
    task = make_task(" Name a fruit\n10. Name a car", cut_off=False)
    (row,) = next(task.process([{"demonstrations": DEMONSTRATIONS}]))
    assert row["instructions"] == ["Name a fruit", "Name a car"]
    assert row["instructions_truncated"] == 0
    cut = make_task(" Name a fruit\n10. Name a car", cut_off=True)
    (row,) = next(cut.process([{"demonstrations": DEMONSTRATIONS}]))
    assert row["instructions"] == ["Name a fruit"]
    assert row["instructions_truncated"] == 1


def test_a_repeated_prompt_number_does_not_end_the_list() -> None:
    parsed = parse_numbered_list(" 9. Name a bird.\n10. Name a tree.\n", first_number=9)
    assert parsed.items == ["Name a bird.", "Name a tree."]
