"""Sample Self-Instruct tasks and review votes shared by the Argilla tests."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.records import task_to_records
from distilabel_selfinstruct.argilla.review import ReviewedRecord, Vote


def make_task(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A task row as produced by the core pipeline's last step."""
    task_id = hashlib.sha1(f"task-{n}".encode()).hexdigest()[:16]
    task = {
        "task_id": task_id,
        "instruction": f"Write a haiku about the number {n}.",
        "is_classification": False,
        "classification_score": 0.12,
        "instances": [
            {"input": "", "output": f"Number {n} / quiet in the morning / counting the rain"}
        ],
        "labels": [],
        "rouge_l_max": 0.25,
        "most_similar_instruction": "Write a poem about the sea.",
        "most_similar_task_id": "seed_task_7",
        "bootstrap_round": 1,
        "model_name": "gemma-3-270m",
    }
    task.update(overrides)
    return task


def make_classification_task(n: int = 0, **overrides: Any) -> dict[str, Any]:
    task = make_task(
        n,
        instruction=f"Classify the sentiment of review #{n} as positive or negative.",
        is_classification=True,
        classification_score=0.91,
        instances=[
            {"input": "I love this phone.", "output": "positive"},
            {"input": "Battery died after a day.", "output": "negative"},
        ],
        labels=["positive", "negative"],
    )
    task.update(overrides)
    return task


def vote(
    user: str,
    instruction: str = s.YES,
    input_: str = s.YES,
    output: str = s.YES,
    corrected: str | None = None,
    is_cls: str | None = None,
    label: str | None = None,
) -> Vote:
    values: dict[str, Any] = {
        s.Q_INSTRUCTION_VALID: instruction,
        s.Q_INPUT_APPROPRIATE: input_,
        s.Q_OUTPUT_ACCEPTABLE: output,
    }
    for q, v in (
        (s.Q_OUTPUT_CORRECTED, corrected),
        (s.Q_IS_CLASSIFICATION, is_cls),
        (s.Q_LABEL_CORRECT, label),
    ):
        if v is not None:
            values[q] = v
    return Vote(user_id=user, values=values)


def reviewed(task: dict[str, Any], votes_per_instance: list[list[Vote]]) -> list[ReviewedRecord]:
    """The records of a task as `pull_reviews` returns them, with the given votes."""
    out = []
    for rec, votes in zip(task_to_records(task), votes_per_instance, strict=True):
        out.append(
            ReviewedRecord(
                id=rec.id,
                task_id=rec.task_id,
                instance_index=rec.instance_index,
                fields=dict(rec.fields),
                metadata=dict(rec.metadata),
                votes=votes,
            )
        )
    return out


def unused_port() -> int:
    """A localhost port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
