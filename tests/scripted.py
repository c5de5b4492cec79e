"""Scripted runs of the whole bootstrap: the replies, the LLM and the invariants every
finished run must satisfy, shared by the pipeline, command-line and Argilla tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from rouge_score import rouge_scorer

from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.testing import ScriptedLLM

# Varied enough that no two are above ROUGE-L 0.7, like a good model's output; a few
# near-copies of each other are mixed in for the novelty filter to catch.
NOVEL = [
    "Explain why sourdough bread needs a starter.",
    "List three deductions people forget on their tax returns.",
    "Name the notes of a C major seventh chord.",
    "What should hikers do if a volcano starts erupting nearby?",
    "Describe the main idea behind the Sicilian Defence in chess.",
    "Give a watering schedule for tomato plants in midsummer.",
    "Who could address the Roman senate during the late republic?",
    "Summarize how quantum dots emit light of different colours.",
    "Suggest a pacing plan for a first marathon under four hours.",
    "Plan a cheap three-day trip to Lisbon for two students.",
    "Draft a short toast for my sister's wedding.",
    "How do I fix a bicycle chain that keeps slipping?",
    "Compare the pricing of two cloud storage tiers for backups.",
    "Why do honeybee colonies swarm in spring?",
    "Rewrite this answer to an interview question so it sounds confident.",
    "Convert 72 degrees Fahrenheit to Celsius and show the steps.",
    "Write a Python decorator that times a function call.",
    "Sort these medieval castles by the year they were built.",
    "Classify each coral reef threat as natural or human-made.",
    "Calculate the monthly payment on a 200000 dollar mortgage at 5 percent.",
    "Translate 'good morning, how are you?' into Spanish.",
    "Is this sentence grammatically correct? Answer yes or no.",
    "Recommend two podcasts for learning basic economics.",
    "Outline the first aid steps for a minor burn.",
]
NEAR_COPIES = [
    "Explain why sourdough bread needs a starter culture.",
    "List three deductions people often forget on their tax returns.",
]


def instruction_replies() -> list[str]:
    """Completion-style continuations of the numbered list, like the base model writes."""
    candidates = NOVEL[:12] + NEAR_COPIES + NOVEL[12:]
    replies = ["I am a language model and cannot"]  # garbage first, no list
    for start in range(0, len(candidates), 4):
        chunk = candidates[start : start + 4]
        lines = [" " + chunk[0]] + [f"{10 + i}. {text}" for i, text in enumerate(chunk[1:])]
        # Every reply ends with a cut-off item, as when the token limit hits.
        replies.append("\n".join(lines) + "\n14. Draw a")
    return replies


def scripted_llm(delay_s: float = 0.0) -> ScriptedLLM:
    return ScriptedLLM(
        replies={
            "Here is a list of diverse tasks": instruction_replies(),
            "Classification:": [" No", " No", " Yes"],
            "Class label:": [
                " Positive\nInput: The soup was lovely.\n"
                "Class label: Negative\nInput: The soup was cold.\n"
                "Class label: Positive\nInput: The soup was cold.\n"
                "Class label: Negative\nInput: The soup was bland.\n"
            ],
            "Example 1\nInput:": [
                " <noinput>\nOutput: Start with a simple plan and practice daily.\n"
                "Example 2\nInput: beginner\nOutput: beginner\n"
            ],
        },
        default_reply="",
        delay_s=delay_s,
        cut_off_markers=["Here is a list of diverse tasks"],
    )


def check_invariants(output_dir: Path, target: int, pool: Optional[str] = None) -> list[dict]:
    """The finished run's invariants, read from its pool (`pool`, or the run directory's)."""
    with open_pool_store(pool or pool_path_for(output_dir)) as store:
        finished = store.completed()
        drops = store.drops()
        seeds = [t["instruction"] for t in store.tasks(origin="seed")]
    assert len(finished) == target
    assert len({task["task_id"] for task in finished}) == len(finished)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    instructions = [task["instruction"] for task in finished]
    for i, text in enumerate(instructions):
        for other in instructions[:i] + seeds:
            assert scorer.score(other, text)["rougeL"].fmeasure <= 0.7, (text, other)
    for task in finished:
        assert task["instances"], task
        for instance in task["instances"]:
            assert instance["output"].strip()
            if task["is_classification"]:
                assert instance["output"] in task["labels"]
    assert all(drop["reason"] and drop["stage"] for drop in drops)
    return finished


def distilabel_command() -> list[str]:
    """distilabel's own command line, from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "distilabel"), "pipeline", "run", "--ignore-cache"]


def lossy_llm(delay_s: float = 0.0) -> ScriptedLLM:
    """Every other non-classification task gets only unusable instances: it is accepted
    into the pool and then lost, as a weak model's tasks are."""
    llm = scripted_llm(delay_s)
    good, bad = llm.replies["Example 1\nInput:"][0], " <noinput>\nOutput:\n"
    llm.replies["Example 1\nInput:"] = [good, bad]
    return llm
