"""Self-Instruct tasks -> review records (pure Python, no Argilla import).

One record per instance, grouped by task id. The record id is
`"{task_id}-{instance_index}"`: stable across re-runs, so re-pushing a task
upserts its records in place (0 new records) and a corrected or resumed run
updates the records instead of duplicating them. A content hash would instead
orphan the old record (and its reviews) whenever an output changes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distilabel_selfinstruct.argilla import schema as s

TRUE_STRINGS = {"true", "yes", "1"}


@dataclass(frozen=True)
class SuggestionSpec:
    """A pre-filled answer: question, value, confidence in [0, 1] and who made it."""

    question: str
    value: str
    score: float | None
    agent: str


@dataclass
class ReviewRecord:
    """One Argilla record, described without the SDK."""

    id: str
    task_id: str
    instance_index: int
    fields: dict[str, str]
    metadata: dict[str, Any]
    suggestions: list[SuggestionSpec] = field(default_factory=list)


def record_id(task_id: str, instance_index: int) -> str:
    return f"{task_id}-{instance_index}"


def parse_record_id(rid: str) -> tuple[str, int]:
    task_id, _, index = rid.rpartition("-")
    return task_id, int(index)


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_STRINGS
    return bool(value)


def unit_float(value: Any) -> float | None:
    """A finite value clamped to [0, 1] (float metadata and suggestion scores
    reject NaN and out-of-range values), or None when there is no number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return min(1.0, max(0.0, number))


def word_count(text: str) -> int:
    return len(text.split())


def normalize_task(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline row or an official Self-Instruct JSONL task as one task dict.

    Rows carry `task_id`; official JSONL carries `id` (and `name`), plus the
    same extra keys. Missing optional keys get neutral values.
    """
    task_id = raw.get("task_id") or raw.get("id")
    if not task_id:
        raise ValueError("task has neither 'task_id' nor 'id'")
    if not str(raw.get("instruction") or "").strip():
        raise ValueError(f"task {task_id!r} has no instruction")
    instances = []
    for inst in raw.get("instances") or []:
        instances.append(
            {
                "input": str(inst.get("input") or ""),
                "output": str(inst.get("output") or ""),
            }
        )
    round_ = raw.get("bootstrap_round")
    judgements = list(raw.get("judgements") or [])[: len(instances)]
    judgements += [None] * (len(instances) - len(judgements))
    return {
        "task_id": str(task_id),
        "name": str(raw.get("name") or task_id),
        "instruction": str(raw["instruction"]).strip(),
        "is_classification": as_bool(raw.get("is_classification", False)),
        "classification_score": unit_float(raw.get("classification_score")),
        "instances": instances,
        # One label per line in the review UI: collapse inner whitespace, drop blanks.
        "labels": [" ".join(str(x).split()) for x in raw.get("labels") or [] if str(x).strip()],
        "rouge_l_max": unit_float(raw.get("rouge_l_max")),
        "most_similar_instruction": str(raw.get("most_similar_instruction") or ""),
        "most_similar_task_id": str(raw.get("most_similar_task_id") or ""),
        "bootstrap_round": int(round_) if round_ is not None else None,
        "model_name": str(raw.get("model_name") or s.UNKNOWN_MODEL),
        # The LLM judge's {"rating", "rationale"} per instance (None: not judged).
        "judgements": [_judgement(j) for j in judgements],
        "judge_model": str(raw.get("judge_model") or "") or None,
    }


def _judgement(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    rating = str(value.get("rating") or "").strip().upper()
    if rating not in s.JUDGE_RATINGS:
        return None
    return {"rating": rating, "rationale": str(value.get("rationale") or "")}


def format_labels(labels: Iterable[str]) -> str:
    # One label per line; newlines inside a label would break the round trip.
    return "\n".join(" ".join(label.split()) for label in labels if label.strip())


def parse_labels(text: str | None) -> list[str]:
    return [line for line in (text or "").split("\n") if line.strip()]


def task_to_records(task: Mapping[str, Any]) -> list[ReviewRecord]:
    """The review records of one task (an empty list for a task without instances)."""
    t = normalize_task(task)  # idempotent, so normalized tasks may be passed too
    base_meta: dict[str, Any] = {
        s.M_TASK_ID: t["task_id"],
        s.M_IS_CLASSIFICATION: "true" if t["is_classification"] else "false",
        s.M_MODEL: t["model_name"],
        s.M_INSTRUCTION_WORDS: word_count(t["instruction"]),
    }
    optional_meta = {
        s.M_CLASSIFICATION_SCORE: t["classification_score"],
        s.M_ROUGE_L_MAX: t["rouge_l_max"],
        s.M_MOST_SIMILAR_TASK_ID: t["most_similar_task_id"] or None,
        s.M_BOOTSTRAP_ROUND: t["bootstrap_round"],
    }
    base_meta.update({k: v for k, v in optional_meta.items() if v is not None})

    records = []
    for index, inst in enumerate(t["instances"]):
        fields = {s.FIELD_INSTRUCTION: t["instruction"], s.FIELD_OUTPUT: inst["output"]}
        # Optional fields are omitted rather than sent empty.
        if inst["input"].strip():
            fields[s.FIELD_INPUT] = inst["input"]
        if t["labels"]:
            fields[s.FIELD_LABELS] = format_labels(t["labels"])
        if t["most_similar_instruction"]:
            fields[s.FIELD_SIMILAR] = t["most_similar_instruction"]
        metadata = {
            **base_meta,
            s.M_INSTANCE_INDEX: index,
            s.M_INPUT_WORDS: word_count(inst["input"]),
            s.M_OUTPUT_WORDS: word_count(inst["output"]),
        }
        judgement = t["judgements"][index]
        if judgement is not None:
            metadata[s.M_JUDGE_RATING] = judgement["rating"]
            fields[s.FIELD_JUDGE_RATIONALE] = (
                f"{judgement['rating']}: {judgement['rationale']}".rstrip(": ")
            )
        records.append(
            ReviewRecord(
                id=record_id(t["task_id"], index),
                task_id=t["task_id"],
                instance_index=index,
                fields=fields,
                metadata=metadata,
                suggestions=_suggestions(t, inst) + judge_suggestions(t, index),
            )
        )
    return records


def _suggestions(task: Mapping[str, Any], instance: Mapping[str, str]) -> list[SuggestionSpec]:
    """Pre-filled answers that come from the pipeline, each with its confidence.

    Filter scores (ROUGE-L) stay metadata: pre-filling "valid" on every record
    would bias reviewers without adding information.
    """
    agent = f"selfinstruct:{task['model_name']}"
    score = task["classification_score"]
    is_cls = task["is_classification"]
    # Confidence in the predicted type: P(cls) for "yes", 1 - P(cls) for "no".
    type_score = None if score is None else (score if is_cls else 1.0 - score)
    out = [SuggestionSpec(s.Q_IS_CLASSIFICATION, s.YES if is_cls else s.NO, type_score, agent)]
    if not is_cls:
        out.append(SuggestionSpec(s.Q_LABEL_CORRECT, s.NOT_APPLICABLE, type_score, agent))
    if not instance["input"].strip():
        # An empty input makes the input question not applicable, by construction.
        out.append(
            SuggestionSpec(s.Q_INPUT_APPROPRIATE, s.NOT_APPLICABLE, 1.0, "selfinstruct:rule")
        )
    return out


# The judge's A-D rating as an answer to "is the output acceptable?", with how sure a
# rating of that letter is of it: A and D are clear, B and C border the line.
JUDGE_ACCEPTABLE: dict[str, tuple[str, float]] = {
    "A": (s.YES, 0.9),
    "B": (s.YES, 0.6),
    "C": (s.NO, 0.6),
    "D": (s.NO, 0.9),
}


def judge_suggestions(task: Mapping[str, Any], index: int) -> list[SuggestionSpec]:
    """The LLM judge's verdict on instance `index` as suggestions: its A-D rating on the
    quality question (the paper's scale) and what that says about "is the output
    acceptable?", each with the rating's confidence; none for an unjudged instance."""
    judgement = (task.get("judgements") or [None] * (index + 1))[index]
    if judgement is None:
        return []
    rating = judgement["rating"]
    answer, score = JUDGE_ACCEPTABLE[rating]
    agent = f"judge:{task.get('judge_model') or s.UNKNOWN_MODEL}"
    return [
        SuggestionSpec(s.Q_QUALITY_RATING, rating, score, agent),
        SuggestionSpec(s.Q_OUTPUT_ACCEPTABLE, answer, score, agent),
    ]


def tasks_to_records(tasks: Iterable[Mapping[str, Any]]) -> Iterator[ReviewRecord]:
    for task in tasks:
        yield from task_to_records(task)


def read_jsonl_tasks(path: str | Path) -> list[dict[str, Any]]:
    """Reads official Self-Instruct JSONL (one task per line) as normalized tasks.

    Raises:
        ValueError: naming the line that is not a valid task.
    """
    tasks = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                tasks.append(normalize_task(json.loads(line)))
            except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as e:
                raise ValueError(f"{path}:{lineno}: not a Self-Instruct task ({e})") from e
    return tasks


def models_of(tasks: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(t.get("model_name") or s.UNKNOWN_MODEL) for t in tasks}
