"""Every report statistic on the hand-made run of conftest.py, against answers worked out
by hand (word counts, shares, rounds), and pairwise ROUGE-L against rouge-score itself."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from distilabel_selfinstruct.report import run_statistics
from distilabel_selfinstruct.report import statistics as stats


@pytest.fixture
def run(hand_run: Path) -> dict:
    return run_statistics(hand_run)


def test_table1_counts_shares_and_word_lengths(run: dict) -> None:
    table = run["table1"]
    assert table["instructions"] == 3
    assert (table["classification"], table["non_classification"]) == (1, 2)
    assert table["classification_share"] == pytest.approx(1 / 3)
    assert (table["instances"], table["instances_per_task"]) == (6, 2.0)
    # Empty inputs: the first instance of the story task and the fruit list.
    assert (table["empty_input"], table["empty_input_share"]) == (2, pytest.approx(1 / 3))
    # Instructions of 7, 6 and 6 words.
    assert table["instruction_words_mean"] == pytest.approx(19 / 3, abs=1e-4)
    assert table["instruction_words_std"] == pytest.approx(0.4714, abs=1e-4)
    # Non-empty inputs of 3, 3, 1 and 1 words; outputs of 8, 3, 2, 1, 1, 1.
    assert (table["input_words_mean"], table["input_words_std"]) == (2.0, 1.0)
    assert table["output_words_mean"] == pytest.approx(16 / 6, abs=1e-4)


def test_length_histograms_bin_words_by_five(run: dict) -> None:
    assert run["lengths"]["instruction"]["5-9"] == 3
    assert run["lengths"]["input"]["0-4"] == 4
    assert run["lengths"]["output"]["0-4"] == 5
    assert run["lengths"]["output"]["5-9"] == 1
    assert sum(run["lengths"]["output"].values()) == 6
    assert stats.length_histogram([0, 4, 5, 99, 100, 250])["100+"] == 2


def test_similarity_to_the_nearest_seed(run: dict) -> None:
    # Only "Name three colors of the rainbow." shares words with a seed: LCS 3 of 6 and 3
    # tokens, F = 2*3/(6+3).
    similarity = run["seed_similarity"]
    assert similarity["histogram"]["0.0-0.1"] == 3
    assert similarity["histogram"]["0.6-0.7"] == 1
    assert similarity["mean"] == pytest.approx((2 / 3) / 4, abs=1e-4)
    assert similarity["median"] == 0.0
    # The pool histogram is the novelty filter's score of each accepted task (0.1 .. 0.4).
    assert sum(run["pool_similarity"].values()) == 4
    assert run["pool_similarity"]["0.3-0.4"] == 1


def test_diversity_of_the_accepted_instructions(run: dict) -> None:
    diversity = run["diversity"]
    assert diversity["instructions"] == 4
    # 25 tokens, 19 distinct ("a", "of" and "the" repeat).
    assert (diversity["tokens"], diversity["type_token_ratio"]) == (25, 19 / 25)
    assert diversity["type_token_ratio_500"] is None  # fewer than 500 tokens
    assert diversity["distinct_leading_verbs"] == 4
    assert diversity["pairwise"]["pairs"] == 6
    pairs = {(v["verb"], next(iter(v["objects"]))) for v in diversity["verb_object"]["top"]}
    assert pairs == {
        ("write", "story"),
        ("give", "list"),
        ("classify", "sentiment"),
        ("name", "color"),
    }
    assert diversity["verb_object"]["parsed_share"] == 1.0


def test_acceptance_per_round_adds_candidates_up(run: dict) -> None:
    acceptance = run["acceptance"]
    assert acceptance["rounds"] == [
        {"round": 0, "candidates": 4, "accepted": 2, "acceptance_rate": 0.5, "finished": 2},
        {"round": 1, "candidates": 3, "accepted": 2, "acceptance_rate": 2 / 3, "finished": 1},
    ]
    assert (acceptance["candidates"], acceptance["accepted"]) == (7, 4)
    # The unparseable reply is a drop, not a candidate.
    assert acceptance["drops"]["generation/unparseable_reply"] == 1
    assert sum(acceptance["drops"].values()) == 4


def test_classification_label_sets_and_balance(run: dict) -> None:
    classification = run["classification"]
    assert classification["tasks"] == 1
    assert classification["labels_per_task"] == {"2": 1}
    assert classification["majority_label_share"]["mean"] == pytest.approx(2 / 3, abs=1e-4)
    assert classification["single_label_tasks"] == 0
    assert classification["top_labels"] == {"Positive": 2, "Negative": 1}


def test_cost_per_finished_task(run: dict) -> None:
    cost = run["cost"]
    assert cost["recorded"] is True
    assert (cost["calls"], cost["prompt_tokens"], cost["completion_tokens"]) == (7, 1600, 500)
    assert cost["calls_per_task"] == pytest.approx(7 / 3)
    assert cost["tokens_per_task"] == pytest.approx(2100 / 3)
    assert cost["stages"]["generate_instances"]["calls_per_task"] == 1.0
    assert cost["cost"] is None  # the run had no price table


def test_a_run_without_reviews_has_no_review_section(run: dict) -> None:
    assert run["review"] is None
    assert run["models"] == {"scripted": 3}


def test_pairwise_rouge_l_is_rouge_score_s(paper_seeds: Path) -> None:
    texts = [json.loads(line)["instruction"] for line in paper_seeds.open()]
    texts = random.Random(1).sample(texts, 40)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    expected = [
        scorer.score(texts[i], texts[j])["rougeL"].fmeasure
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
    ]
    assert stats.pairwise_rouge_l(texts).tolist() == pytest.approx(expected, abs=1e-12)


def test_the_pairwise_sample_is_bounded_and_seeded() -> None:
    texts = [
        f"Write poem number {i} about topic {i % 7}." for i in range(stats.PAIRWISE_SAMPLE + 50)
    ]
    first, again = stats.diversity(texts), stats.diversity(texts)
    assert first["pairwise"]["sample"] == stats.PAIRWISE_SAMPLE
    assert first["pairwise"] == again["pairwise"]


def test_an_empty_run_reports_without_dividing_by_zero() -> None:
    assert stats.table1([])["classification_share"] is None
    assert stats.diversity([])["pairwise"]["mean"] is None
    assert stats.acceptance([], [], [])["acceptance_rate"] is None
    assert stats.classification([])["majority_label_share"]["mean"] is None
