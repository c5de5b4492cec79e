"""`write_report` on hand-made runs: the files, the page's numbers against report.json, two
runs side by side, review results from a pulled reviews file, and bad input."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.review import (
    REVIEWS_FILENAME,
    ReviewedRecord,
    Vote,
    write_reviews,
)
from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.report import REPORT_JSON, ReportError, write_report
from distilabel_selfinstruct.report.page import fmt
from tests.report.conftest import make_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KINDS = ("int", "pct", "f0", "f1", "f2", "f3", "usd")


class _Cells(HTMLParser):
    """(data-stat key, text) of every cell, and the src of every image."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self.images: list[str] = []
        self._key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "data-stat" in values:
            self._key = values["data-stat"]
            self.cells.append((self._key or "", ""))
        if tag == "img":
            self.images.append(values.get("src") or "")

    def handle_data(self, data: str) -> None:
        if self._key is not None:
            key, text = self.cells[-1]
            self.cells[-1] = (key, text + data)

    def handle_endtag(self, tag: str) -> None:
        self._key = None


def lookup(report: dict[str, Any], key: str) -> Any:
    value: Any = report
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def page_cells(page: Path) -> _Cells:
    cells = _Cells()
    cells.feed(page.read_text(encoding="utf-8"))
    return cells


def reviews(task_ids: list[str]) -> list[ReviewedRecord]:
    """Three reviewed instances and one unreviewed; one instance reviewed twice."""
    yes = {s.Q_INSTRUCTION_VALID: s.YES, s.Q_INPUT_APPROPRIATE: s.YES, s.Q_OUTPUT_ACCEPTABLE: s.YES}
    bad_output = {**yes, s.Q_OUTPUT_ACCEPTABLE: s.NO}
    return [
        ReviewedRecord("r0", task_ids[0], 0, {}, {}, [Vote("u1", yes), Vote("u2", yes)]),
        ReviewedRecord("r1", task_ids[0], 1, {}, {}, [Vote("u1", bad_output)]),
        ReviewedRecord("r2", task_ids[1], 0, {}, {}, [Vote("u2", {**yes, s.Q_INSTRUCTION_VALID: s.NO})]),
        ReviewedRecord("r3", task_ids[2], 0, {}, {}, []),
    ]  # fmt: skip


def test_the_report_files_and_the_page_s_numbers(hand_run: Path) -> None:
    page = write_report(hand_run)
    assert page == hand_run / "report" / "report.html"
    report = json.loads((page.parent / REPORT_JSON).read_text())
    assert set(report["figures"]) == {
        "similarity", "lengths", "verbs", "diversity", "acceptance", "drops",
        "classification", "cost",
    }  # fmt: skip
    for name in report["figures"]:
        png = (page.parent / f"{name}.png").read_bytes()
        assert png.startswith(PNG_SIGNATURE) and len(png) > 2000, name
    cells = page_cells(page)
    assert len(cells.cells) > 30
    for key, text in cells.cells:
        value = lookup(report, key)
        assert text.strip() in {fmt(value, kind) for kind in KINDS}, key
    # Each figure is inline, nothing is fetched.
    assert len(cells.images) == len(report["figures"])
    assert all(src.startswith("data:image/png;base64,") for src in cells.images)
    assert "http://" not in page.read_text() and "https://" not in page.read_text()


def test_review_results_come_from_the_pulled_reviews(hand_run: Path) -> None:
    with open_pool_store(pool_path_for(hand_run), create=False) as store:
        task_ids = [task["task_id"] for task in store.completed()]
    write_reviews(reviews(task_ids), hand_run / "review" / REVIEWS_FILENAME)
    page = write_report(hand_run)
    report = json.loads((page.parent / REPORT_JSON).read_text())
    review = report["runs"][0]["review"]
    assert review["reviewed_records"] == 3
    assert review["share"] == {
        "instruction_valid": pytest.approx(2 / 3),
        "input_appropriate": 1.0,
        "output_acceptable": pytest.approx(2 / 3),
        "all_three": pytest.approx(1 / 3),
    }
    assert review["agreement"][s.Q_OUTPUT_ACCEPTABLE]["records"] == 1
    assert "review" in report["figures"]
    keys = {key for key, _ in page_cells(page).cells}
    assert "runs.0.review.share.all_three" in keys
    # Without the reviews the review chart goes too, not left stale.
    (hand_run / "review" / REVIEWS_FILENAME).unlink()
    write_report(hand_run)
    assert not (page.parent / "review.png").exists()


def test_two_runs_side_by_side(tmp_path: Path) -> None:
    a = make_run(tmp_path / "small-model")
    b = make_run(tmp_path / "other" / "run", model="another")
    page = write_report(a, compare=b)
    assert page.parent == a / "report-vs-run"
    report = json.loads((page.parent / REPORT_JSON).read_text())
    assert [run["name"] for run in report["runs"]] == ["small-model", "run"]
    assert report["runs"][1]["models"] == {"another": 3}
    keys = {key for key, _ in page_cells(page).cells}
    assert {"runs.0.table1.instructions", "runs.1.table1.instructions"} <= keys


def test_a_missing_run_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"^no run in .*pool.sqlite is missing\)$"):
        write_report(tmp_path / "nothing")


def test_a_bad_reviews_line_names_file_and_line(hand_run: Path) -> None:
    path = hand_run / "review" / REVIEWS_FILENAME
    path.parent.mkdir()
    path.write_text('{"id": "r0"}\n')
    with pytest.raises(ReportError, match=rf"{REVIEWS_FILENAME}:1: not a pulled review record"):
        write_report(hand_run)


def test_an_explicit_reviews_path_that_is_missing_is_an_error(hand_run: Path) -> None:
    with pytest.raises(ReportError, match="no reviews at"):
        write_report(hand_run, reviews=hand_run / "elsewhere.jsonl")
