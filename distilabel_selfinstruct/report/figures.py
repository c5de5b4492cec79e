"""The report's figures, drawn from `report.json`'s numbers (one or two runs) as PNG bytes.

matplotlib's object API with the Agg canvas: no display, no pyplot state shared between
calls. Distributions are drawn as shares, so two runs of different sizes compare; each
function returns `None` when no run has the data (a run without reviews has no review chart).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

Runs = Sequence[dict[str, Any]]
COLORS = ("#3b6ea8", "#d9822b")
MAX_ROUND_BARS = 40
DPI = 110


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _shares(counts: dict[str, int]) -> list[float]:
    total = sum(counts.values())
    return [n / total if total else 0.0 for n in counts.values()]


Series = list[tuple[str, Sequence[float], str]]


def _side_by_side(
    axes: Any, labels: Sequence[str], series: Series, *, horizontal: bool = False,
    rotation: int = 60, fontsize: int = 7,
) -> None:  # fmt: skip
    """One bar per label for each (name, values, color) series, the series side by side."""
    width = 0.8 / len(series)
    at = np.arange(len(labels))
    for k, (name, values, color) in enumerate(series):
        draw = axes.barh if horizontal else axes.bar
        draw(at + k * width, values, width, label=name, color=color)
    ticks = at + width * (len(series) - 1) / 2
    if horizontal:
        axes.set_yticks(ticks, labels, fontsize=fontsize)
        axes.invert_yaxis()
    else:
        axes.set_xticks(ticks, labels, rotation=rotation, fontsize=fontsize)
    if len(series) > 1:
        axes.legend(fontsize=8)


def _grouped_bars(axes: Any, runs: Runs, get: Callable[[dict], dict[str, int]], title: str) -> None:
    """Bars of each run's share per bin, side by side."""
    series = [(run["name"], _shares(get(run)), COLORS[k]) for k, run in enumerate(runs)]
    _side_by_side(axes, list(get(runs[0])), series)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel("share")


def similarity(runs: Runs) -> bytes:
    """Figure 3: ROUGE-L to the most similar seed, and to the pool when accepted."""
    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    _grouped_bars(
        left, runs, lambda r: r["seed_similarity"]["histogram"], "ROUGE-L to the most similar seed"
    )
    _grouped_bars(right, runs, lambda r: r["pool_similarity"], "ROUGE-L to the pool when accepted")
    return _png(figure)


def _filled_bins(runs: Runs, part: str) -> int:
    """How many bins reach the last one any run fills, so short texts are not squeezed left."""
    filled = [i for run in runs for i, n in enumerate(run["lengths"][part].values()) if n]
    return max(filled, default=0) + 1


def lengths(runs: Runs) -> bytes:
    """Figure 4: word lengths of instructions, non-empty inputs and outputs."""
    figure = Figure(figsize=(13, 3.6))
    for axes, part in zip(figure.subplots(1, 3), ("instruction", "input", "output"), strict=True):
        keep = _filled_bins(runs, part)
        _grouped_bars(
            axes, runs, lambda r, p=part, n=keep: dict(list(r["lengths"][p].items())[:n]),
            f"{part} length (words)",
        )  # fmt: skip
    return _png(figure)


def verbs(runs: Runs) -> Optional[bytes]:
    """Figure 2: the top verbs, each bar split into its top direct objects."""
    if not any(run["diversity"]["verb_object"]["top"] for run in runs):
        return None
    figure = Figure(figsize=(6.5 * len(runs), 6))
    for axes, run in zip(np.atleast_1d(figure.subplots(1, len(runs))), runs, strict=True):
        top = run["diversity"]["verb_object"]["top"][::-1]
        y = np.arange(len(top))
        left = np.zeros(len(top))
        for slot in range(max((len(v["objects"]) for v in top), default=0)):
            counts = []
            for row, entry in enumerate(top):
                objects = list(entry["objects"].items())
                counts.append(objects[slot][1] if slot < len(objects) else 0)
                if slot < len(objects):
                    axes.text(
                        left[row] + objects[slot][1] / 2, row, objects[slot][0],
                        ha="center", va="center", fontsize=6, color="white",
                    )  # fmt: skip
            axes.barh(y, counts, left=left, color=f"C{slot}", alpha=0.85)
            left += counts
        other = [v["count"] - sum(v["objects"].values()) for v in top]
        axes.barh(y, other, left=left, color="#bbbbbb", label="other or no object")
        axes.legend(fontsize=7, loc="lower right")
        axes.set_yticks(y, [v["verb"] for v in top], fontsize=8)
        axes.set_xlabel("instructions")
        axes.set_title(f"{run['name']}: top verbs and their objects", fontsize=10)
    return _png(figure)


def diversity(runs: Runs) -> bytes:
    """Pairwise ROUGE-L within a sample of accepted instructions, and the leading verbs."""
    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    _grouped_bars(
        left, runs, lambda r: r["diversity"]["pairwise"]["histogram"],
        "pairwise ROUGE-L of accepted instructions",
    )  # fmt: skip
    verbs_a = list(runs[0]["diversity"]["top_leading_verbs"])[:12]
    series = []
    for k, run in enumerate(runs):
        counts = run["diversity"]["top_leading_verbs"]
        total = run["diversity"]["instructions"] or 1
        series.append((run["name"], [counts.get(verb, 0) / total for verb in verbs_a], COLORS[k]))
    _side_by_side(right, verbs_a, series)
    right.set_title("leading verbs (share of instructions)", fontsize=10)
    return _png(figure)


def _round_groups(rounds: list[dict[str, Any]]) -> tuple[list[float], list[dict[str, float]]]:
    """At most `MAX_ROUND_BARS` groups of consecutive rounds, their sums and mean round."""
    size = max(1, -(-len(rounds) // MAX_ROUND_BARS))
    groups = []
    centers = []
    for start in range(0, len(rounds), size):
        chunk = rounds[start : start + size]
        candidates = sum(r["candidates"] for r in chunk)
        accepted = sum(r["accepted"] for r in chunk)
        groups.append(
            {
                "candidates": candidates,
                "accepted": accepted,
                "finished": sum(r["finished"] for r in chunk),
                "rate": accepted / candidates if candidates else 0.0,
            }
        )
        centers.append(float(np.mean([r["round"] for r in chunk])))
    return centers, groups


def acceptance(runs: Runs) -> Optional[bytes]:
    """Candidates, acceptance rate and finished tasks per bootstrap round."""
    if not any(run["acceptance"]["rounds"] for run in runs):
        return None
    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    for k, run in enumerate(runs):
        centers, groups = _round_groups(run["acceptance"]["rounds"])
        left.plot(
            centers, [g["rate"] for g in groups], marker=".", color=COLORS[k], label=run["name"]
        )
        right.plot(
            centers, np.cumsum([g["finished"] for g in groups]), color=COLORS[k], label=run["name"]
        )
        right.bar(centers, [g["candidates"] for g in groups], color=COLORS[k], alpha=0.25)
    left.set_title("acceptance rate per round", fontsize=10)
    left.set_xlabel("bootstrap round")
    left.set_ylim(0, 1)
    right.set_title("candidates per round (bars), finished tasks (line)", fontsize=10)
    right.set_xlabel("bootstrap round")
    for axes in (left, right):
        if len(runs) > 1:
            axes.legend(fontsize=8)
    return _png(figure)


def drops(runs: Runs) -> Optional[bytes]:
    """Drops per stage and reason (share of each run's candidates)."""
    reasons = sorted({key for run in runs for key in run["acceptance"]["drops"]})
    if not reasons:
        return None
    figure = Figure(figsize=(9, 0.35 * len(reasons) * len(runs) + 1.2))
    axes = figure.subplots()
    series = [
        (run["name"], [run["acceptance"]["drops"].get(r, 0) for r in reasons], COLORS[k])
        for k, run in enumerate(runs)
    ]
    _side_by_side(axes, reasons, series, horizontal=True, fontsize=8)
    axes.set_xlabel("rows dropped")
    axes.set_title("drops per stage/reason", fontsize=10)
    return _png(figure)


def classification(runs: Runs) -> Optional[bytes]:
    """Labels per classification task, and the top labels over all instances."""
    if not any(run["classification"]["tasks"] for run in runs):
        return None
    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    sizes = sorted({int(k) for run in runs for k in run["classification"]["labels_per_task"]})
    _grouped_bars(
        left, runs,
        lambda r: {str(k): r["classification"]["labels_per_task"].get(str(k), 0) for k in sizes},
        "labels per classification task",
    )  # fmt: skip
    top = runs[0]["classification"]["top_labels"]
    names = list(top)[:12]
    right.bar(np.arange(len(names)), [top[n] for n in names], color=COLORS[0])
    right.set_xticks(np.arange(len(names)), [n[:18] for n in names], rotation=60, fontsize=7)
    right.set_title(f"{runs[0]['name']}: top labels over instances", fontsize=10)
    right.set_ylabel("instances")
    left.set_xlabel("distinct labels in the task")
    return _png(figure)


def cost(runs: Runs) -> Optional[bytes]:
    """Counted LLM calls and tokens per finished task, per stage."""
    if not any(run["cost"]["recorded"] for run in runs):
        return None
    stages = sorted({stage for run in runs for stage in run["cost"]["stages"]})
    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    for axes, key, title in (
        (left, "calls_per_task", "LLM calls per finished task"),
        (right, "tokens_per_task", "tokens per finished task"),
    ):
        series = [
            (run["name"], [(run["cost"]["stages"].get(s) or {}).get(key) or 0 for s in stages],
             COLORS[k])
            for k, run in enumerate(runs)
        ]  # fmt: skip
        _side_by_side(axes, stages, series, rotation=30)
        axes.set_title(title, fontsize=10)
    return _png(figure)


def review(runs: Runs, paper: dict[str, float]) -> Optional[bytes]:
    """The paper's quality figures for the reviewed records, beside the paper's own."""
    if not any(run.get("review") for run in runs):
        return None
    names = list(paper)
    figure = Figure(figsize=(8, 3.6))
    axes = figure.subplots()
    series = [("paper (252 instances)", [paper[n] for n in names], "#999999")]
    for k, run in enumerate(runs):
        if run.get("review"):
            shares = run["review"]["share"]
            series.append((run["name"], [shares[n] or 0.0 for n in names], COLORS[k]))
    _side_by_side(axes, [n.replace("_", " ") for n in names], series, rotation=0, fontsize=9)
    axes.set_ylim(0, 1)
    axes.set_ylabel("share of reviewed instances")
    axes.set_title("review results", fontsize=10)
    return _png(figure)


def draw_all(runs: Runs, paper: dict[str, Any]) -> dict[str, bytes]:
    """Every figure the runs have data for: file stem -> PNG bytes."""
    drawn = {
        "similarity": similarity(runs),
        "lengths": lengths(runs),
        "verbs": verbs(runs),
        "diversity": diversity(runs),
        "acceptance": acceptance(runs),
        "drops": drops(runs),
        "classification": classification(runs),
        "cost": cost(runs),
        "review": review(runs, paper["review"]),
    }
    return {name: png for name, png in drawn.items() if png is not None}
