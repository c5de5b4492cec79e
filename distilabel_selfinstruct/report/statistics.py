"""The report's numbers: pure functions from a run's task records to JSON-ready dicts.

Every figure and table of the report is drawn from what these return (through
`report.json`), so a test can check a number once, here, and know the page shows it.
Words are whitespace-separated tokens, as in the paper's Table 1; similarity is ROUGE-L
F-measure with rouge-score's tokenizer, as in the novelty filter.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from distilabel_selfinstruct.bootstrap.stages import CANDIDATE_STAGES
from distilabel_selfinstruct.filters.rouge_index import RougeLIndex, tokenize
from distilabel_selfinstruct.report.verbs import verb_and_object
from distilabel_selfinstruct.summary import rouge_l_histogram
from distilabel_selfinstruct.usage import CALLS, COMPLETION_TOKENS, PROMPT_TOKENS, Usage

# The paper's Table 1 (Wang et al., 2022) and its §4.2 quality review, for reference.
PAPER = {
    "table1": {
        "instructions": 52445,
        "classification_share": 0.221,
        "instances": 82439,
        "instances_per_task": 82439 / 52445,
        "empty_input_share": 0.435,
        "instruction_words_mean": 15.9,
        "input_words_mean": 12.7,
        "output_words_mean": 18.9,
    },
    "review": {
        "instruction_valid": 0.92,
        "input_appropriate": 0.79,
        "output_acceptable": 0.58,
        "all_three": 0.54,
    },
}
LENGTH_BIN_WORDS = 5
LENGTH_LIMIT_WORDS = 100
PAIRWISE_SAMPLE = 500
TOP_VERBS = 20
TOP_OBJECTS = 4


def words(text: Optional[str]) -> int:
    return len((text or "").split())


def mean_std(values: Sequence[float]) -> dict[str, Optional[float]]:
    """Mean and (population) standard deviation; `None` for no values."""
    if not values:
        return {"mean": None, "std": None}
    array = np.asarray(values, dtype=float)
    return {"mean": round(float(array.mean()), 4), "std": round(float(array.std()), 4)}


def _instances(tasks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [instance for task in tasks for instance in task.get("instances") or []]


def table1(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The paper's Table 1 for finished tasks: counts, shares and mean word lengths."""
    instances = _instances(tasks)
    classification = sum(1 for task in tasks if task.get("is_classification"))
    empty = sum(1 for i in instances if not (i.get("input") or "").strip())
    instruction = mean_std([words(t["instruction"]) for t in tasks])
    inputs = mean_std([words(i["input"]) for i in instances if (i.get("input") or "").strip()])
    outputs = mean_std([words(i.get("output")) for i in instances])
    return {
        "instructions": len(tasks),
        "classification": classification,
        "non_classification": len(tasks) - classification,
        "classification_share": classification / len(tasks) if tasks else None,
        "instances": len(instances),
        "instances_per_task": len(instances) / len(tasks) if tasks else None,
        "empty_input": empty,
        "empty_input_share": empty / len(instances) if instances else None,
        "instruction_words_mean": instruction["mean"],
        "instruction_words_std": instruction["std"],
        "input_words_mean": inputs["mean"],
        "input_words_std": inputs["std"],
        "output_words_mean": outputs["mean"],
        "output_words_std": outputs["std"],
    }


def length_histogram(
    lengths: Iterable[int], width: int = LENGTH_BIN_WORDS, limit: int = LENGTH_LIMIT_WORDS
) -> dict[str, int]:
    """Counts per `[k*width, (k+1)*width)` words; everything from `limit` up in one bin."""
    counts = [0] * (limit // width + 1)
    for length in lengths:
        counts[min(length // width, limit // width)] += 1
    labels = [f"{k * width}-{(k + 1) * width - 1}" for k in range(limit // width)]
    return dict(zip([*labels, f"{limit}+"], counts, strict=True))


def lengths(tasks: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The paper's Figure 4: word lengths of instructions, non-empty inputs and outputs."""
    instances = _instances(tasks)
    return {
        "instruction": length_histogram(words(t["instruction"]) for t in tasks),
        "input": length_histogram(
            words(i["input"]) for i in instances if (i.get("input") or "").strip()
        ),
        "output": length_histogram(words(i.get("output")) for i in instances),
    }


def similarity_to_seeds(instructions: Sequence[str], seeds: Sequence[str]) -> dict[str, Any]:
    """The paper's Figure 3: each instruction's ROUGE-L to its most similar seed."""
    index = RougeLIndex()
    index.add(seeds)
    scores = [index.best_match(text).score for text in instructions] if seeds else []
    return {
        "histogram": rouge_l_histogram(scores),
        **mean_std(scores),
        "median": round(float(np.median(scores)), 4) if scores else None,
    }


def pairwise_rouge_l(texts: Sequence[str]) -> np.ndarray:
    """ROUGE-L F of every pair `i < j` of `texts` (rouge-score's tokenizer), as one array."""
    ids: dict[str, str] = {}
    sequences = [
        "".join(ids.setdefault(token, chr(0x100 + len(ids))) for token in tokenize(text))
        for text in texts
    ]
    lcs = process.cdist(sequences, sequences, scorer=LCSseq.similarity, dtype=np.int32)
    size = np.array([len(s) for s in sequences], dtype=float)
    upper = np.triu_indices(len(sequences), k=1)
    common = lcs[upper].astype(float)
    m, n = size[upper[0]], size[upper[1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        # rouge-score's own float expression, so a pair at a bin edge falls where it would.
        precision, recall = common / n, common / m
        scores = np.where(common > 0, 2 * precision * recall / (precision + recall), 0.0)
    return scores


def diversity(instructions: Sequence[str], seed: int = 0) -> dict[str, Any]:
    """Type-token ratio, leading verbs, length spread, pairwise similarity, verb–object pairs.

    The pairwise distribution is over a sample of at most `PAIRWISE_SAMPLE` instructions
    (seeded: the same run gives the same sample).
    """
    tokens = [token for text in instructions for token in tokenize(text)]
    parsed = [verb_and_object(text) for text in instructions]
    leading = Counter(verb or "(none)" for verb, _ in parsed)
    sample = list(instructions)
    if len(sample) > PAIRWISE_SAMPLE:
        sample = random.Random(f"report:{seed}").sample(sample, PAIRWISE_SAMPLE)
    pairs = pairwise_rouge_l(sample) if len(sample) >= 2 else np.zeros(0)
    return {
        "instructions": len(instructions),
        "tokens": len(tokens),
        "type_token_ratio": len(set(tokens)) / len(tokens) if tokens else None,
        # Size-independent: the mean type-token ratio of consecutive 500-token windows.
        "type_token_ratio_500": _windowed_ttr(tokens, 500),
        "distinct_leading_verbs": len([v for v in leading if v != "(none)"]),
        "top_leading_verbs": dict(leading.most_common(TOP_VERBS)),
        "instruction_words": mean_std([words(text) for text in instructions]),
        "pairwise": {
            "sample": len(sample),
            "pairs": int(pairs.size),
            "histogram": rouge_l_histogram(pairs.tolist()),
            "mean": round(float(pairs.mean()), 4) if pairs.size else None,
            "median": round(float(np.median(pairs)), 4) if pairs.size else None,
        },
        "verb_object": verb_objects(parsed),
    }


def _windowed_ttr(tokens: Sequence[str], window: int) -> Optional[float]:
    chunks = [tokens[i : i + window] for i in range(0, len(tokens) - window + 1, window)]
    if not chunks:
        return None
    return round(sum(len(set(c)) / window for c in chunks) / len(chunks), 4)


def verb_objects(pairs: Sequence[tuple[Optional[str], Optional[str]]]) -> dict[str, Any]:
    """The paper's Figure 2 from each instruction's `verb_and_object`: the top verbs and,
    for each, its top direct objects."""
    both = [(verb, noun) for verb, noun in pairs if verb and noun]
    by_verb: dict[str, Counter[str]] = defaultdict(Counter)
    for verb, noun in both:
        by_verb[verb][noun] += 1
    top = sorted(by_verb, key=lambda verb: (-sum(by_verb[verb].values()), verb))[:TOP_VERBS]
    return {
        "parsed": len(both),
        "parsed_share": len(both) / len(pairs) if pairs else None,
        "distinct_pairs": len(set(both)),
        "top": [
            {
                "verb": verb,
                "count": sum(by_verb[verb].values()),
                "objects": dict(by_verb[verb].most_common(TOP_OBJECTS)),
            }
            for verb in top
        ],
    }


def acceptance(
    machine_tasks: Sequence[dict[str, Any]],
    drops: Sequence[dict[str, Any]],
    finished: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """Per bootstrap round: candidates, accepted, acceptance rate, finished; drops by reason.

    A candidate is accepted into the pool or dropped at a candidate stage, so the two add up
    to the candidates of the round; `finished` counts the round's tasks that got instances.
    """
    stages = {str(stage) for stage in CANDIDATE_STAGES}
    accepted = Counter(task.get("bootstrap_round") for task in machine_tasks)
    dropped = Counter(d.get("bootstrap_round") for d in drops if d["stage"] in stages)
    done = Counter(task.get("bootstrap_round") for task in finished)
    rounds = sorted(r for r in set(accepted) | set(dropped) if r is not None)
    per_round = []
    for number in rounds:
        candidates = accepted[number] + dropped[number]
        per_round.append(
            {
                "round": number,
                "candidates": candidates,
                "accepted": accepted[number],
                "acceptance_rate": accepted[number] / candidates if candidates else None,
                "finished": done[number],
            }
        )
    by_reason = Counter(f"{d['stage']}/{d['reason']}" for d in drops)
    total_candidates = len(machine_tasks) + sum(dropped.values())
    return {
        "rounds": per_round,
        "candidates": total_candidates,
        "accepted": len(machine_tasks),
        "acceptance_rate": len(machine_tasks) / total_candidates if total_candidates else None,
        "drops": dict(sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))),
    }


def classification(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Label-set sizes per classification task and how evenly each task's instances spread
    over its labels (majority share: 1.0 when every instance has the same label)."""
    tasks = [task for task in tasks if task.get("is_classification")]
    label_counts: Counter[int] = Counter()
    majority: list[float] = []
    labels: Counter[str] = Counter()
    for task in tasks:
        outputs = [(i.get("output") or "").strip() for i in task.get("instances") or []]
        label_set = set(task.get("labels") or []) or set(outputs)
        label_counts[len(label_set)] += 1
        labels.update(outputs)
        if outputs:
            majority.append(Counter(outputs).most_common(1)[0][1] / len(outputs))
    return {
        "tasks": len(tasks),
        "labels_per_task": {str(k): n for k, n in sorted(label_counts.items())},
        "majority_label_share": mean_std(majority),
        "single_label_tasks": sum(1 for share in majority if share == 1.0),
        "top_labels": dict(labels.most_common(20)),
    }


def cost(counters: dict[str, int], finished: int, price: Optional[float]) -> dict[str, Any]:
    """Counted LLM calls and tokens per stage, in all and per finished task."""
    usage = Usage.from_counters(counters)
    per_task = finished or None
    stages = {
        stage: {
            "calls": values[CALLS],
            "prompt_tokens": values[PROMPT_TOKENS],
            "completion_tokens": values[COMPLETION_TOKENS],
            "calls_per_task": values[CALLS] / per_task if per_task else None,
            "tokens_per_task": (values[PROMPT_TOKENS] + values[COMPLETION_TOKENS]) / per_task
            if per_task
            else None,
        }
        for stage, values in usage.stages.items()
    }
    return {
        "recorded": bool(usage.stages),
        "stages": stages,
        "calls": usage.total(CALLS),
        "prompt_tokens": usage.total(PROMPT_TOKENS),
        "completion_tokens": usage.total(COMPLETION_TOKENS),
        "calls_per_task": usage.total(CALLS) / per_task if per_task and usage.stages else None,
        "tokens_per_task": usage.tokens / per_task if per_task and usage.stages else None,
        "cost": price,
        "cost_per_task": price / per_task if price is not None and per_task else None,
    }
