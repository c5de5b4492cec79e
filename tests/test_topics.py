"""Topic files (plain list or YAML taxonomy) and the under-represented-first policy."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from distilabel_selfinstruct.topics import TopicFileError, TopicPolicy, load_topics

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_a_plain_list_skips_blanks_comments_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "topics.txt"
    path.write_text("# header\ncooking\n\nphysics  # a comment\ncooking\n", encoding="utf-8")
    assert load_topics(path) == ["cooking", "physics"]


def test_a_yaml_taxonomy_names_each_leaf_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("Science:\n  - Physics\n  - Biology\nLife:\n  Cooking: [Baking]\n  Money:\n")
    assert load_topics(path) == [
        "Science / Physics",
        "Science / Biology",
        "Life / Cooking / Baking",
        "Life / Money",
    ]


def test_the_shipped_examples_load() -> None:
    assert len(load_topics(EXAMPLES / "topics.txt")) == 30
    assert "Everyday life / Money / Taxes" in load_topics(EXAMPLES / "topics.yaml")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.txt", None, "no such topic file"),
        ("empty.txt", "# nothing\n\n", "holds no topic"),
        ("bad.yaml", "a: [b\n", r"bad.yaml:2: not a YAML taxonomy"),
        ("long.txt", "ok\n" + "x" * 300 + "\n", "long.txt:2: a topic of 300 characters"),
    ],
)
def test_a_bad_topic_file_is_one_line_naming_it(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(TopicFileError, match=message) as caught:
        load_topics(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_the_policy_favours_topics_with_fewer_tasks() -> None:
    policy = TopicPolicy(["crowded", "empty", "some"])
    counts = Counter({"crowded": 20, "some": 2})
    drawn: Counter[str] = Counter()
    for round_number in range(500):
        drawn.update(policy.choose(random.Random(round_number), counts, 4))
    assert drawn["empty"] > drawn["some"] > drawn["crowded"] > 0
    # Weights 1/(1+n): 1, 1/3 and 1/21 at first; prompts given in a round count too.
    assert drawn["empty"] / 2000 > 0.5
    assert drawn["crowded"] / 2000 < 0.1


def test_the_policy_spreads_one_round_and_is_seeded() -> None:
    policy = TopicPolicy([f"t{i}" for i in range(8)])
    first = policy.choose(random.Random("42:0"), Counter(), 8)
    assert first == policy.choose(random.Random("42:0"), Counter(), 8)
    assert len(set(first)) >= 5
