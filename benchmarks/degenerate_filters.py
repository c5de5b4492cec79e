"""Precision and recall of the degenerate-text filters on hand-labelled real replies.

The fixture (tests/filters/data/) holds instance replies of default-model runs
(`benchmarks.collect_replies`) and, per parsed instance, hand labels: its defects and
whether it is an acceptable training example. Each filter runs alone, as `FilterInstances`
runs it, on the parsed instances; a filter's "flags" are the instances it drops or cuts.

- precision: of the instances it flags, the share labelled with its defect;
- recall: of the instances labelled with its defect, the share it flags;
- good dropped: flagged instances labelled acceptable (keep = true) — data lost.

The last two rows are the whole `FilterInstances` check (duplicates, conflicts and label
counts included; duplicates count as drops of bad data only where the labeller said the
instance is bad), first with the paper's filters only, then with the degenerate checks,
scored against keep = false.

For `run_on`, a cut that keeps an instance is right when the labeller found the part before
the run-on a complete answer (`cut_ok`). Instruction markup is measured on the tasks'
instructions.

    python -m benchmarks.degenerate_filters [--markdown]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distilabel_selfinstruct.filters import degenerate
from distilabel_selfinstruct.filters.instance_filters import (
    NO_DEGENERATE_CHECKS,
    DegenerateChecks,
    degenerate_verdict,
    filter_instances,
)
from distilabel_selfinstruct.instances import parse_input_first, parse_output_first
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks

DATA = Path(__file__).resolve().parent.parent / "tests" / "filters" / "data"
REPLIES = DATA / "default_model_replies.jsonl"
LABELS = DATA / "default_model_labels.jsonl"
FILTERS = ("repetition", "run_on", "markup", "restatement", "label_set")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def parsed_tasks() -> list[dict[str, Any]]:
    """The fixture's replies parsed as the pipeline parses them, with their hand labels."""
    labels = {row["id"]: row for row in read_jsonl(LABELS)}
    tasks = []
    for reply in read_jsonl(REPLIES):
        parse = parse_output_first if reply["is_classification"] else parse_input_first
        parsed = parse(reply["reply"], prefilled=True, complete=reply["finished"])
        if not parsed.instances:
            continue
        tasks.append({**reply, "instances": parsed.instances, "labels": labels[reply["id"]]})
    return tasks


def demonstrations() -> tuple[str, ...]:
    return degenerate.demonstration_texts(load_seed_tasks(bundled_seed_path()))


@dataclass
class Score:
    flagged: int = 0
    right: int = 0
    labelled: int = 0
    caught: int = 0
    good_dropped: int = 0
    cuts: int = 0
    good_cuts: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.right / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.caught / self.labelled if self.labelled else None


def only(name: str, demos: tuple[str, ...]) -> DegenerateChecks:
    settings = {key: False for key in FILTERS}
    settings[name] = True
    return DegenerateChecks(**settings, demonstrations=demos)


def evaluate() -> dict[str, Score]:
    tasks = parsed_tasks()
    demos = demonstrations()
    scores = {name: Score() for name in (*FILTERS, "instruction_markup")}
    for task in tasks:
        labels = task["labels"]
        by_position = {item["position"]: item for item in labels["instances"]}
        instruction = task["instruction"]
        # Instruction markup: one unit per task.
        flagged = degenerate.markup_found(instruction) is not None
        _count(
            scores["instruction_markup"], flagged, labels["instruction_markup"], None, task["id"]
        )
        if task["is_classification"]:
            flagged = (
                degenerate.label_set_problem(instruction, [i["output"] for i in task["instances"]])
                is not None
            )
            for position, _ in enumerate(task["instances"]):
                label = by_position[position]
                _count(
                    scores["label_set"],
                    flagged,
                    "label_set" in label["defects"],
                    label["keep"],
                    f"{task['id']}#{position}",
                )
            continue
        for name in ("repetition", "run_on", "markup", "restatement"):
            checks = only(name, demos)
            for position, instance in enumerate(task["instances"]):
                label = by_position[position]
                verdict = degenerate_verdict(instance, instruction, checks)
                flagged = verdict.reason is not None or verdict.cut
                score = scores[name]
                _count(
                    score,
                    flagged,
                    name in label["defects"],
                    label["keep"],
                    f"{task['id']}#{position}",
                )
                if verdict.cut:
                    score.cuts += 1
                    score.good_cuts += bool(label.get("cut_ok"))
    # The instance filters as the pipeline runs them (the paper's, ours and the label
    # checks), without and with the degenerate checks, against keep = false.
    every = DegenerateChecks(demonstrations=demos)
    for name, checks in (("paper's filters only", NO_DEGENERATE_CHECKS), ("all filters", every)):
        score = scores.setdefault(name, Score())
        for task in tasks:
            by_position = {item["position"]: item for item in task["labels"]["instances"]}
            is_cls = task["is_classification"]
            result = filter_instances(
                task["instances"],
                labels=[i["output"] for i in task["instances"]] if is_cls else None,
                instruction=task["instruction"],
                checks=checks,
                max_instances=len(task["instances"]),
            )
            dropped = {position for position, _ in result.dropped} | set(result.cut)
            for position in range(len(task["instances"])):
                label = by_position[position]
                unit = f"{task['id']}#{position}"
                _count(score, position in dropped, not label["keep"], label["keep"], unit)
    return scores


def _count(score: Score, flagged: bool, labelled: bool, keep: bool | None, unit: str) -> None:
    score.flagged += flagged
    score.right += flagged and labelled
    score.labelled += labelled
    score.caught += flagged and labelled
    score.good_dropped += bool(flagged and keep)
    if labelled and not flagged:
        score.misses.append(unit)
    if flagged and not labelled:
        score.false_alarms.append(unit)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def table(scores: dict[str, Score]) -> str:
    lines = [
        "| filter | flagged | labelled | precision | recall | good data dropped | cuts (complete before) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, score in scores.items():
        cuts = f"{score.cuts} ({score.good_cuts})" if name == "run_on" else "–"
        lines.append(
            f"| {name} | {score.flagged} | {score.labelled} | {_percent(score.precision)}"
            f" | {_percent(score.recall)} | {score.good_dropped} | {cuts} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="list misses and false alarms")
    args = parser.parse_args()
    scores = evaluate()
    tasks = parsed_tasks()
    instances = sum(len(task["instances"]) for task in tasks)
    print(f"{len(tasks)} tasks, {instances} instances hand-labelled")
    print(table(scores))
    if args.details:
        for name, score in scores.items():
            print(f"{name}: misses {score.misses[:20]} false alarms {score.false_alarms[:20]}")


if __name__ == "__main__":
    main()
