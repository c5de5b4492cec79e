"""The way back from Argilla: pull reviews, curate, write the curated dataset.

Curation rules (documented in docs/argilla.md, implemented in `curate`):

* Only *submitted* responses are votes; drafts and discarded records are not.
  A record is *reviewed* when it has at least one vote.
* A check passes iff its positive votes outnumber its negative votes (a tie
  fails: when reviewers disagree evenly, the conservative choice is to drop).
  Positive is "yes" (and "not_applicable" for the input and label checks),
  negative is "no". An optional question nobody answered passes.
* Instruction: the `instruction_valid` votes of *all* records of a task are
  pooled; if the check fails the whole task is dropped, including its
  unreviewed instances.
* Input: if `input_appropriate` fails the instance is dropped (a correction
  cannot repair an input).
* Correction: if any vote has a non-empty `output_corrected`, the instance is
  kept with that output (the most frequent correction; ties -> the
  lexicographically smallest, for determinism), whatever the other votes say
  about the output.
* Otherwise the instance is kept iff `output_acceptable` passes and, for
  classification tasks, `label_correct` passes; else it is dropped.
* Task type: `is_classification_task` votes pooled per task override the
  model's prediction when they are not tied.
* Unreviewed instances are excluded unless `include_unreviewed=True`, in which
  case they are kept as generated. Tasks left with no instance are dropped.
* The label set of a kept classification task gains any corrected output not
  already in it; a task voted non-classification gets an empty label set.

Agreement (only where several people reviewed the same record): for each label
question and each record with k >= 2 votes on it, the share of the k*(k-1)/2
reviewer pairs that gave the same answer; reported as the mean over those
records (`pairwise_agreement`) with the share of records where all agreed
(`unanimous`) and the number of records (`records`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.push import (
    ReviewServerError,
    check_schema,
    connect,
    find_dataset,
    resolve_workspace,
    server_errors,
)
from distilabel_selfinstruct.argilla.records import (
    as_bool,
    parse_labels,
    parse_record_id,
    unit_float,
)
from distilabel_selfinstruct.files import atomic_write_text

if TYPE_CHECKING:
    import argilla as rg

logger = logging.getLogger(__name__)

POSITIVE = {s.YES, s.NOT_APPLICABLE}
LABEL_QUESTIONS = (
    s.Q_INSTRUCTION_VALID,
    s.Q_INPUT_APPROPRIATE,
    s.Q_OUTPUT_ACCEPTABLE,
    s.Q_IS_CLASSIFICATION,
    s.Q_LABEL_CORRECT,
    s.Q_QUALITY_RATING,
)

APPROVED, CORRECTED, UNREVIEWED = "approved", "corrected", "unreviewed"
REJECTED_INSTRUCTION, REJECTED_INPUT, REJECTED_OUTPUT = (
    "rejected_instruction",
    "rejected_input",
    "rejected_output",
)
UNREVIEWED_EXCLUDED = "unreviewed_excluded"
# The pulled records with their votes, beside the curated files: what `selfinstruct report`
# reads for the review results.
REVIEWS_FILENAME = "reviews.jsonl"


@dataclass
class Vote:
    """One reviewer's submitted answers to one record (question name -> value)."""

    user_id: str
    values: dict[str, Any]


@dataclass
class ReviewedRecord:
    """A record as pulled back from Argilla, without SDK objects."""

    id: str
    task_id: str
    instance_index: int
    fields: dict[str, str]
    metadata: dict[str, Any]
    votes: list[Vote] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return bool(self.votes)


@dataclass
class CurationResult:
    tasks: list[dict[str, Any]]
    summary: dict[str, Any]
    decisions: dict[str, str]  # record id -> decision
    records: list[ReviewedRecord] = field(default_factory=list)  # as pulled

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per kept instance (the Alpaca / HF datasets view)."""
        return [
            {
                "instruction": t["instruction"],
                "input": inst["input"],
                "output": inst["output"],
                "task_id": t["task_id"],
                "instance_index": inst["instance_index"],
                "is_classification": t["is_classification"],
                "review_status": inst["review_status"],
            }
            for t in self.tasks
            for inst in t["review"]["instances"]
        ]


# --------------------------------------------------------------------------- pull


def _status(value: Any) -> str:
    return str(getattr(value, "value", value))


def record_from_sdk(record: rg.Record) -> ReviewedRecord:
    by_user: dict[str, dict[str, Any]] = defaultdict(dict)
    for response in record.responses:
        if _status(response.status) == "submitted":
            by_user[str(response.user_id)][response.question_name] = response.value
    metadata = dict(record.metadata)
    task_id = metadata.get(s.M_TASK_ID)
    index = metadata.get(s.M_INSTANCE_INDEX)
    if task_id is None or index is None:
        task_id, index = parse_record_id(str(record.id))
    return ReviewedRecord(
        id=str(record.id),
        task_id=str(task_id),
        instance_index=int(index),
        fields={k: v for k, v in dict(record.fields).items() if isinstance(v, str)},
        metadata=metadata,
        votes=[Vote(user_id=u, values=v) for u, v in sorted(by_user.items())],
    )


def pull_reviews(
    dataset_name: str,
    workspace: str | None = None,
    api_url: str | None = None,
    api_key: Any = None,
    client: rg.Argilla | None = None,
    batch_size: int = 500,
) -> list[ReviewedRecord]:
    """All records of a review dataset with their submitted responses.

    Raises:
        ReviewServerError: wrong key, server down, unknown dataset...
    """
    client = client or connect(api_url, api_key)
    ws = resolve_workspace(client, workspace)
    dataset = find_dataset(client, dataset_name, ws)
    if dataset is None:
        raise ReviewServerError(
            f"dataset {dataset_name!r} not found in workspace {ws.name!r} on {client.api_url}"
        )
    check_schema(dataset)
    with server_errors(client.api_url, f"reading records of {dataset_name!r}"):
        records = [
            record_from_sdk(r)
            for r in dataset.records(
                with_responses=True, with_suggestions=False, batch_size=batch_size
            )
        ]
    return sorted(records, key=lambda r: (r.task_id, r.instance_index))


# ------------------------------------------------------------------------ curate


def _votes(records: Iterable[ReviewedRecord], question: str) -> list[Any]:
    return [
        v.values[question] for r in records for v in r.votes if v.values.get(question) is not None
    ]


def passes(values: Sequence[Any], positive: set[str] = POSITIVE) -> bool:
    """Positive votes strictly outnumber negative ones; no votes at all passes."""
    if not values:
        return True
    pos = sum(1 for v in values if v in positive)
    return pos > len(values) - pos


def majority_correction(records: Iterable[ReviewedRecord]) -> str | None:
    texts = [str(t).strip() for t in _votes(records, s.Q_OUTPUT_CORRECTED) if str(t).strip()]
    if not texts:
        return None
    counts = Counter(texts)
    best = max(counts.values())
    return min(t for t, c in counts.items() if c == best)


def decide_record(record: ReviewedRecord, is_classification: bool) -> tuple[str, str | None]:
    """(decision, corrected output or None) for a reviewed record of a valid task."""
    one = [record]
    if not passes(_votes(one, s.Q_INPUT_APPROPRIATE)):
        return REJECTED_INPUT, None
    correction = majority_correction(one)
    if correction is not None:
        return CORRECTED, correction
    output_ok = passes(_votes(one, s.Q_OUTPUT_ACCEPTABLE), {s.YES})
    label_ok = not is_classification or passes(_votes(one, s.Q_LABEL_CORRECT))
    return (APPROVED, None) if output_ok and label_ok else (REJECTED_OUTPUT, None)


def task_type(records: Sequence[ReviewedRecord], predicted: bool) -> bool:
    votes = Counter(_votes(records, s.Q_IS_CLASSIFICATION))
    if votes[s.YES] == votes[s.NO]:
        return predicted
    return votes[s.YES] > votes[s.NO]


def _base_task(records: Sequence[ReviewedRecord]) -> dict[str, Any]:
    first = records[0]
    meta = first.metadata
    round_ = meta.get(s.M_BOOTSTRAP_ROUND)
    return {
        "id": first.task_id,
        "name": first.task_id,
        "task_id": first.task_id,
        "instruction": first.fields.get(s.FIELD_INSTRUCTION, ""),
        "is_classification": as_bool(meta.get(s.M_IS_CLASSIFICATION, "false")),
        "classification_score": unit_float(meta.get(s.M_CLASSIFICATION_SCORE)),
        "labels": parse_labels(first.fields.get(s.FIELD_LABELS)),
        "rouge_l_max": unit_float(meta.get(s.M_ROUGE_L_MAX)),
        "most_similar_instruction": first.fields.get(s.FIELD_SIMILAR, ""),
        "most_similar_task_id": str(meta.get(s.M_MOST_SIMILAR_TASK_ID) or ""),
        "bootstrap_round": int(round_) if round_ is not None else None,
        "model_name": str(meta.get(s.M_MODEL) or s.UNKNOWN_MODEL),
    }


def curate(records: Iterable[ReviewedRecord], include_unreviewed: bool = False) -> CurationResult:
    """Applies the review rules of this module's docstring. Pure: no server."""
    by_task: dict[str, list[ReviewedRecord]] = defaultdict(list)
    for r in records:
        by_task[r.task_id].append(r)

    decisions: dict[str, str] = {}
    tasks: list[dict[str, Any]] = []
    task_counts: Counter[str] = Counter()
    for task_id in sorted(by_task):
        recs = sorted(by_task[task_id], key=lambda r: r.instance_index)
        reviewed = [r for r in recs if r.reviewed]
        task = _base_task(recs)
        task_counts["total"] += 1
        task_counts["reviewed"] += bool(reviewed)

        if reviewed and not passes(_votes(reviewed, s.Q_INSTRUCTION_VALID), {s.YES}):
            decisions.update({r.id: REJECTED_INSTRUCTION for r in recs})
            task_counts["dropped_invalid_instruction"] += 1
            continue

        is_cls = task_type(reviewed, task["is_classification"])
        labels = list(task["labels"]) if is_cls else []
        kept = []
        for r in recs:
            output = r.fields.get(s.FIELD_OUTPUT, "")
            if r.reviewed:
                decision, correction = decide_record(r, is_cls)
                output = correction if correction is not None else output
            else:
                decision = UNREVIEWED if include_unreviewed else UNREVIEWED_EXCLUDED
            decisions[r.id] = decision
            if decision in (APPROVED, CORRECTED, UNREVIEWED):
                kept.append(
                    {
                        "input": r.fields.get(s.FIELD_INPUT) or "",
                        "output": output,
                        "instance_index": r.instance_index,
                        "review_status": decision,
                    }
                )
                if decision == CORRECTED and is_cls and output not in labels:
                    labels.append(output)
        if not kept:
            task_counts["dropped_no_instances" if reviewed else "unreviewed_excluded"] += 1
            continue
        task_counts["kept"] += 1
        task.update(
            is_classification=is_cls,
            labels=labels,
            instances=[{"input": k["input"], "output": k["output"]} for k in kept],
            review={
                "reviewers": sorted({v.user_id for r in reviewed for v in r.votes}),
                "instances": kept,
            },
        )
        tasks.append(task)

    all_records = [r for recs in by_task.values() for r in recs]
    counts = Counter(decisions.values())
    summary = {
        "records": len(all_records),
        "reviewed": sum(1 for r in all_records if r.reviewed),
        "approved": counts[APPROVED],
        "corrected": counts[CORRECTED],
        "rejected": counts[REJECTED_INSTRUCTION] + counts[REJECTED_INPUT] + counts[REJECTED_OUTPUT],
        "rejected_by_reason": {
            "instruction": counts[REJECTED_INSTRUCTION],
            "input": counts[REJECTED_INPUT],
            "output": counts[REJECTED_OUTPUT],
        },
        "unreviewed_included": counts[UNREVIEWED],
        "unreviewed_excluded": counts[UNREVIEWED_EXCLUDED],
        "kept_instances": counts[APPROVED] + counts[CORRECTED] + counts[UNREVIEWED],
        "tasks": {
            k: task_counts[k]
            for k in (
                "total",
                "reviewed",
                "kept",
                "dropped_invalid_instruction",
                "dropped_no_instances",
                "unreviewed_excluded",
            )
        },
        "reviewers": len({v.user_id for r in all_records for v in r.votes}),
        "agreement": agreement(all_records),
        "judge_agreement": judge_agreement(all_records),
        "include_unreviewed": include_unreviewed,
    }
    return CurationResult(
        tasks=tasks, summary=summary, decisions=decisions, records=list(all_records)
    )


def agreement(records: Iterable[ReviewedRecord]) -> dict[str, dict[str, float | int]]:
    """Pairwise percent agreement per label question over multiply-reviewed records."""
    per_question: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for q in LABEL_QUESTIONS:
            values = _votes([r], q)
            k = len(values)
            if k < 2:
                continue
            same = sum(c * (c - 1) // 2 for c in Counter(values).values())
            per_question[q].append(same / (k * (k - 1) // 2))
    return {
        q: {
            "records": len(scores),
            "pairwise_agreement": round(sum(scores) / len(scores), 4),
            "unanimous": round(sum(1 for x in scores if x == 1.0) / len(scores), 4),
        }
        for q, scores in per_question.items()
    }


def judge_agreement(records: Iterable[ReviewedRecord]) -> dict[str, Any]:
    """How often the reviewers agreed with the LLM judge, over the reviewed records it
    rated (its rating is the record's `judge_rating` metadata).

    Per question, the share of submitted answers equal to the judge's: on
    `output_acceptable` the judge says yes for A and B, no for C and D (as its
    suggestion did); on `quality_rating` its letter. `overall` pools both;
    `acceptable_by_rating` is, per judge rating, the share of reviewers' answers that
    found the output acceptable (how a rating reads in the reviewers' terms). Empty when
    no record was both judged and reviewed.
    """
    from distilabel_selfinstruct.argilla.records import JUDGE_ACCEPTABLE

    answers: dict[str, list[bool]] = defaultdict(list)
    acceptable: dict[str, list[bool]] = defaultdict(list)
    rated = 0
    for r in records:
        rating = r.metadata.get(s.M_JUDGE_RATING)
        if rating not in JUDGE_ACCEPTABLE or not r.reviewed:
            continue
        rated += 1
        judge_says = {
            s.Q_OUTPUT_ACCEPTABLE: JUDGE_ACCEPTABLE[rating][0],
            s.Q_QUALITY_RATING: rating,
        }
        for question, expected in judge_says.items():
            for value in _votes([r], question):
                answers[question].append(value == expected)
        for value in _votes([r], s.Q_OUTPUT_ACCEPTABLE):
            acceptable[rating].append(value == s.YES)
    if not answers:
        return {}

    def share(values: list[bool]) -> dict[str, Any]:
        return {"answers": len(values), "agreement": round(sum(values) / len(values), 4)}

    pooled = [value for values in answers.values() for value in values]
    return {
        "records": rated,
        "per_question": {question: share(values) for question, values in answers.items()},
        "overall": share(pooled),
        "acceptable_by_rating": {
            rating: share(values)["agreement"] for rating, values in sorted(acceptable.items())
        },
    }


def judge_agreement_line(result: dict[str, Any]) -> str:
    """One line for the command line; empty when nothing was both judged and reviewed."""
    if not result:
        return ""
    parts = ", ".join(
        f"{question} {share['agreement']:.0%} of {share['answers']}"
        for question, share in result["per_question"].items()
    )
    overall = result["overall"]
    return (
        f"reviewers agreed with the LLM judge on {overall['agreement']:.0%} of"
        f" {overall['answers']} answers over {result['records']} records ({parts})"
    )


def quality_verdicts(records: Iterable[ReviewedRecord]) -> dict[str, Any]:
    """The paper's quality figures (§4.2) over the reviewed records, by the same majority
    rules as `curate`: valid instruction, appropriate input, acceptable output, all three.

    The paper's 252 expert-rated instances gave 92 %, 79 %, 58 % and 54 %. A record counts
    once however many people reviewed it; `agreement` says how much they agreed.
    """
    reviewed = [r for r in records if r.reviewed]
    counts: Counter[str] = Counter()
    for r in reviewed:
        checks = {
            "instruction_valid": passes(_votes([r], s.Q_INSTRUCTION_VALID), {s.YES}),
            "input_appropriate": passes(_votes([r], s.Q_INPUT_APPROPRIATE)),
            "output_acceptable": passes(_votes([r], s.Q_OUTPUT_ACCEPTABLE), {s.YES}),
        }
        counts.update(name for name, ok in checks.items() if ok)
        counts["all_three"] += all(checks.values())
    names = ("instruction_valid", "input_appropriate", "output_acceptable", "all_three")
    return {
        "reviewed_records": len(reviewed),
        "reviewers": len({v.user_id for r in reviewed for v in r.votes}),
        "share": {n: counts[n] / len(reviewed) if reviewed else None for n in names},
        "agreement": agreement(reviewed),
    }


# ------------------------------------------------------------------------- write


def write_reviews(records: Iterable[ReviewedRecord], path: str | Path) -> None:
    """One JSON line per pulled record: ids, fields, metadata and submitted votes."""
    lines = [json.dumps(asdict(r), ensure_ascii=False, sort_keys=True) + "\n" for r in records]
    atomic_write_text(Path(path), "".join(lines))


def read_reviews(path: str | Path) -> list[ReviewedRecord]:
    """The records `write_reviews` wrote.

    Raises:
        ValueError: a line that is not such a record (the message names file and line).
    """
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                votes = [Vote(**vote) for vote in row.pop("votes")]
                records.append(ReviewedRecord(**row, votes=votes))
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValueError(f"{path}:{number}: not a pulled review record ({error})") from None
    return records


def official_task(task: dict[str, Any]) -> dict[str, Any]:
    """A curated task in official Self-Instruct JSONL layout plus the extra keys."""
    out = {k: task[k] for k in ("id", "name", "instruction", "instances", "is_classification")}
    out.update({k: v for k, v in task.items() if k not in out and k != "review"})
    out["review_status"] = [inst["review_status"] for inst in task["review"]["instances"]]
    out["reviewers"] = task["review"]["reviewers"]
    return out


def write_curated(
    result: CurationResult, output_dir: str | Path, hf: bool = True
) -> dict[str, Path]:
    """Writes curated.jsonl (official), alpaca.json, hf/ (datasets.save_to_disk), summary.json
    and the pulled records (`REVIEWS_FILENAME`)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "jsonl": out / "curated.jsonl",
        "alpaca": out / "alpaca.json",
        "summary": out / "summary.json",
        "reviews": out / REVIEWS_FILENAME,
    }
    write_reviews(result.records, paths["reviews"])
    with open(paths["jsonl"], "w", encoding="utf-8") as fh:
        fh.writelines(
            json.dumps(official_task(task), ensure_ascii=False) + "\n" for task in result.tasks
        )
    alpaca = [
        {"instruction": r["instruction"], "input": r["input"], "output": r["output"]}
        for r in result.rows
    ]
    paths["alpaca"].write_text(
        json.dumps(alpaca, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    paths["summary"].write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    if hf:
        import datasets

        columns = (
            "instruction",
            "input",
            "output",
            "task_id",
            "instance_index",
            "is_classification",
            "review_status",
        )
        rows = result.rows
        data = {c: [r[c] for r in rows] for c in columns}
        paths["hf"] = out / "hf"
        bars_were_on = not datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()  # one summary line on the CLI, not a progress bar
        try:
            datasets.Dataset.from_dict(data).save_to_disk(str(paths["hf"]))
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
    return paths


def summary_line(summary: dict[str, Any]) -> str:
    return (
        f"{summary['reviewed']}/{summary['records']} records reviewed: "
        f"{summary['approved']} approved, "
        f"{summary['corrected']} corrected, {summary['rejected']} rejected, "
        f"{summary['unreviewed_included']} unreviewed included, "
        f"{summary['unreviewed_excluded']} unreviewed excluded; "
        f"{summary['tasks']['kept']}/{summary['tasks']['total']} tasks kept"
    )
