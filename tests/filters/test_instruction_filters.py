"""The paper's heuristic instruction filters: each check, and the step that applies them."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.filters.instruction_filters import (
    DEFAULT_BLACKLIST,
    FilterInstructions,
    blacklist_pattern,
    keyword_reason,
    length_reason,
    non_ascii_reason,
    program_reason,
    punctuation_reason,
    word_count,
)
from distilabel_selfinstruct.pool import open_pool_store

pytestmark = pytest.mark.usefixtures("isolated_env")

PATTERN = blacklist_pattern(list(DEFAULT_BLACKLIST))


def test_word_count() -> None:
    assert word_count("  Name three\ncolors,  please. ") == 4
    assert word_count("") == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name three colors.", "too_short"),
        ("Name three primary colors.", None),
        (" ".join(["word"] * 150), None),
        (" ".join(["word"] * 151), "too_long"),
    ],
)
def test_check_length(text: str, expected: str | None) -> None:
    assert length_reason(text, 4, 150) == expected


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("Explain the mapping between keys and values.", False),
        ("Map the route from Paris to Rome.", True),
        ("Please go  to the second page and summarize it.", True),
        ("Go\tto the website and list its sections.", True),
        ("Describe the attached IMAGE in detail.", True),
        ("Describe an image-based search engine.", True),
        ("Explain how a filesystem stores data.", False),
        ("Upload the files and sort them by size.", True),
        ("Give some plot twist ideas for a mystery novel.", True),
        ("Explain drawing techniques for beginners.", False),
        ("Write a story about a graphic designer.", False),
        ("Describe the go-to breakfast in Japan.", False),
    ],
)
def test_blacklist_is_whole_word_and_case_insensitive(text: str, blocked: bool) -> None:
    assert keyword_reason(text, PATTERN) == ("blacklisted_keyword" if blocked else None)


def test_blacklist_escapes_keywords_and_handles_empty_lists() -> None:
    pattern = blacklist_pattern(["a.b", ""])
    assert pattern is not None
    assert keyword_reason("Explain a.b in detail.", pattern) == "blacklisted_keyword"
    # "." is literal, not "any character".
    assert keyword_reason("Explain axb in detail.", pattern) is None
    assert blacklist_pattern([]) is None and blacklist_pattern([""]) is None
    assert keyword_reason("Draw a map of the map.", None) is None


def test_blacklist_keywords_with_punctuation_at_the_edges() -> None:
    pattern = blacklist_pattern(["c++", ".net"])
    assert keyword_reason("Teach me c++ basics.", pattern) == "blacklisted_keyword"
    assert keyword_reason("Build a site with .net today.", pattern) == "blacklisted_keyword"
    assert keyword_reason("Teach me c+ basics.", pattern) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Quote" this sentence in French.', "starts_with_punctuation"),
        ("  - List three fruits.", "starts_with_punctuation"),
        ("#hashtag ideas for a bakery", "starts_with_punctuation"),
        ("List three fruits.", None),
        ("", None),
    ],
)
def test_check_starts_with_punctuation(text: str, expected: str | None) -> None:
    assert punctuation_reason(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Écris un poème sur la mer.", "starts_non_ascii"),
        ("¿Qué hora es en Madrid ahora?", "starts_non_ascii"),
        ("写一首关于大海的诗。", "starts_non_ascii"),
        ("Translate «bonjour» into English.", None),
        ("", None),
    ],
)
def test_check_starts_non_ascii(text: str, expected: str | None) -> None:
    assert non_ascii_reason(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write a program that sorts a list.", "write_a_program"),
        ("  write a Program to add two numbers.", "write_a_program"),
        ("Write a function that sorts a list.", None),
        ("Explain how to write a program that sorts.", None),
    ],
)
def test_check_program_request(text: str, expected: str | None) -> None:
    assert program_reason(text) == expected


# -- FilterInstructions ------------------------------------------------------------------

ROWS = {
    "ok": "List three prime numbers below twenty.",
    "too_short": "Name colors.",
    "too_long": " ".join(["word"] * 151),
    "blacklisted_keyword": "Draw a picture of a cat sitting on a mat.",
    "starts_with_punctuation": "- List three prime numbers below twenty.",
    "starts_non_ascii": "Écris un poème sur la mer.",
    "write_a_program": "Write a program that reverses a string.",
    "empty": "   ",
}
SWITCHES = {
    "too_short": "check_length",
    "too_long": "check_length",
    "blacklisted_keyword": "check_keywords",
    "starts_with_punctuation": "check_punctuation",
    "starts_non_ascii": "check_non_ascii",
    "write_a_program": "check_program",
}


def run(rows: list[dict], **kwargs) -> tuple[list[dict], FilterInstructions]:
    step = FilterInstructions(**kwargs)
    step.load()
    out = next(step.process(rows))
    return out, step


def make_rows() -> list[dict]:
    return [
        {"candidate_id": reason, "instruction": text, "bootstrap_round": 1}
        for reason, text in ROWS.items()
    ]


def test_reason_codes() -> None:
    out, step = run(make_rows(), keep_rejected=True)
    assert {row["candidate_id"]: row["instruction_filter_reason"] for row in out} == {
        reason: (None if reason == "ok" else reason) for reason in ROWS
    }
    assert {row["candidate_id"]: row["instruction_words"] for row in out}["ok"] == 6
    assert step.drop_counts == {reason: 1 for reason in ROWS if reason != "ok"}


def test_rejected_rows_are_dropped_by_default() -> None:
    out, step = run(make_rows())
    assert [row["candidate_id"] for row in out] == ["ok"]
    assert out[0]["instruction_filter_reason"] is None
    assert out[0]["bootstrap_round"] == 1
    assert sum(step.drop_counts.values()) == len(ROWS) - 1


@pytest.mark.parametrize("reason", sorted(set(SWITCHES)))
def test_each_check_can_be_switched_off(reason: str) -> None:
    row = {"candidate_id": reason, "instruction": ROWS[reason]}
    assert run([row])[0] == []
    out, step = run([row], **{SWITCHES[reason]: False})
    assert [r["candidate_id"] for r in out] == [reason]
    assert not step.drop_counts


def test_first_failing_check_names_the_reason() -> None:
    # Too short and blacklisted: length is checked first.
    out, _ = run([{"instruction": "Draw it."}], keep_rejected=True)
    assert out[0]["instruction_filter_reason"] == "too_short"
    out, _ = run([{"instruction": "Draw it."}], keep_rejected=True, check_length=False)
    assert out[0]["instruction_filter_reason"] == "blacklisted_keyword"


def test_runtime_bounds_and_blacklist() -> None:
    rows = [
        {"instruction": "Name two colors."},
        {"instruction": "Summarize this long article now."},
    ]
    out, _ = run(rows, min_words=3, max_words=4, keep_rejected=True)
    assert [r["instruction_filter_reason"] for r in out] == [None, "too_long"]
    rows = [
        {"instruction": "Describe the mapping of a genome."},
        {"instruction": "Map the region around Rome."},
    ]
    out, _ = run(rows, blacklist=["mapping"], keep_rejected=True)
    assert [r["instruction_filter_reason"] for r in out] == ["blacklisted_keyword", None]


def test_drops_are_recorded_in_the_pool_store(pool_path: Path) -> None:
    _, step = run(make_rows(), run=BootstrapRun(pool_path=str(pool_path)))
    step.unload()
    with open_pool_store(pool_path) as store:
        assert store.drop_counts() == {
            ("instruction_filters", reason): 1 for reason in ROWS if reason != "ok"
        }
        drops = {d["candidate_id"]: d for d in store.drops()}
        assert drops["too_short"]["text"] == "Name colors."
        assert drops["too_short"]["score"] == 2
        assert drops["too_short"]["bootstrap_round"] == 1
