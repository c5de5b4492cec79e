"""Writing a run's report: read the run once, compute `report.json`, draw, render the page.

The pool store is the source: it holds every finished task once, the accepted instructions
with their rounds, every drop and the counted LLM usage. Review results come from the
`reviews.jsonl` that `selfinstruct pull --output RUN/review` writes.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from distilabel_selfinstruct.files import atomic_write_bytes, atomic_write_text
from distilabel_selfinstruct.pool import is_networked, open_pool_store
from distilabel_selfinstruct.report import statistics as stats
from distilabel_selfinstruct.run_directory import pool_location_for
from distilabel_selfinstruct.usage import PRICES_META, Prices, Usage

REPORT_DIRNAME = "report"
REVIEW_DIRNAME = "review"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
SCHEMA_VERSION = 1


class ReportError(Exception):
    """A run that cannot be reported on; the message is one line naming the path."""


def run_statistics(run_dir: str | Path, reviews: Optional[str | Path] = None) -> dict[str, Any]:
    """Every number of the report for one run directory.

    Raises:
        ReportError: no pool store in `run_dir`, or a reviews file that cannot be read.
    """
    run_dir = Path(run_dir)
    pool = pool_location_for(run_dir)
    if not is_networked(pool) and not Path(pool).exists():
        raise ReportError(f"no run in {run_dir} ({pool} is missing)")
    with open_pool_store(pool, create=False) as store:
        seeds = [task["instruction"] for task in store.tasks("seed")]
        machine = store.tasks("machine")
        finished = store.completed()
        drops = store.drops()
        counters = store.counters()
        pool_scores = store.rouge_l_scores()
        prices = Prices.from_json(store.meta(PRICES_META))
    accepted = [task["instruction"] for task in machine]
    review = _review_statistics(run_dir, reviews)
    return {
        "name": run_dir.resolve().name,
        "path": str(run_dir),
        "seeds": len(seeds),
        "accepted": len(accepted),
        "models": dict(Counter(task.get("model_name") or "unknown" for task in finished)),
        # With topic steering (`--topics`): finished tasks per topic, most first.
        "topics": dict(
            Counter(task["topic"] for task in finished if task.get("topic")).most_common()
        ),
        "table1": stats.table1(finished),
        "seed_similarity": stats.similarity_to_seeds(accepted, seeds),
        "pool_similarity": stats.rouge_l_histogram(pool_scores),
        "lengths": stats.lengths(finished),
        "diversity": stats.diversity(accepted),
        "acceptance": stats.acceptance(machine, drops, finished),
        "classification": stats.classification(finished),
        "cost": stats.cost(counters, len(finished), Usage.from_counters(counters).cost(prices)),
        "review": review,
    }


def _review_statistics(run_dir: Path, reviews: Optional[str | Path]) -> Optional[dict[str, Any]]:
    from distilabel_selfinstruct.argilla.review import (
        REVIEWS_FILENAME,
        quality_verdicts,
        read_reviews,
    )

    path = Path(reviews) if reviews else run_dir / REVIEW_DIRNAME / REVIEWS_FILENAME
    if path.is_dir():
        path = path / REVIEWS_FILENAME
    if not path.exists():
        if reviews:
            raise ReportError(f"no reviews at {path} (write them with `selfinstruct pull`)")
        return None
    try:
        records = read_reviews(path)
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ReportError(str(error)) from None
    verdicts = quality_verdicts(records)
    return {**verdicts, "path": str(path)} if verdicts["reviewed_records"] else None


def report_dir_for(run_dir: str | Path, compare: Optional[str | Path] = None) -> Path:
    """`RUN/report`, or `RUN/report-vs-<other>` for a comparison."""
    run_dir = Path(run_dir)
    if compare is None:
        return run_dir / REPORT_DIRNAME
    return run_dir / f"{REPORT_DIRNAME}-vs-{Path(compare).resolve().name}"


def write_report(
    run_dir: str | Path,
    compare: Optional[str | Path] = None,
    reviews: Optional[str | Path] = None,
    compare_reviews: Optional[str | Path] = None,
    out_dir: Optional[str | Path] = None,
) -> Path:
    """Writes `report.json`, one PNG per figure and `report.html`; returns the page's path.

    Raises:
        ReportError: a run (or reviews file) that cannot be read, or an output that cannot
            be written.
    """
    from distilabel_selfinstruct.report import figures, page

    started = time.perf_counter()
    runs = [run_statistics(run_dir, reviews)]
    if compare is not None:
        other = run_statistics(compare, compare_reviews)
        if other["name"] == runs[0]["name"]:
            runs[0]["name"], other["name"] = str(run_dir), str(compare)
        runs.append(other)
    report = {
        "schema": SCHEMA_VERSION,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "paper": stats.PAPER,
    }
    pngs = figures.draw_all(runs, stats.PAPER)
    report["figures"] = {name: f"{name}.png" for name in pngs}
    report["seconds"] = round(time.perf_counter() - started, 3)
    target = Path(out_dir) if out_dir else report_dir_for(run_dir, compare)
    try:
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob("*.png"):
            if stale.stem not in pngs:
                stale.unlink()
        for name, png in pngs.items():
            atomic_write_bytes(target / f"{name}.png", png)
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(target / REPORT_JSON, text)
        images = {name: base64.b64encode(png).decode("ascii") for name, png in pngs.items()}
        atomic_write_text(target / REPORT_HTML, page.render(report, images))
    except OSError as error:
        raise ReportError(
            f"cannot write the report in {target}: {error.strerror or error}"
        ) from None
    return target / REPORT_HTML
