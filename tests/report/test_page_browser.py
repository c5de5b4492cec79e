"""report.html in a real headless Chromium (Debian's, driven by Playwright): every figure
loads (natural size > 0), the numbers read off the rendered page match report.json, and the
page logs no console error and requests nothing from a network.

Skips with a message where Chromium or Playwright is absent; CI installs both
(scripts/test), and there a missing browser fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from distilabel_selfinstruct.report import REPORT_JSON, write_report
from distilabel_selfinstruct.report.page import fmt
from tests.report.test_build import KINDS, lookup

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_or_skip() -> str:
    path = os.environ.get("SELFINSTRUCT_CHROMIUM") or next(
        (found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None
    )
    missing = None
    if path is None:
        missing = "Chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright is not installed (the dev extra)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {missing}")
        pytest.skip(missing)
    assert path is not None
    return path


@pytest.mark.timeout(120)
def test_the_page_renders_every_figure_without_errors(hand_run: Path) -> None:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    page_path = write_report(hand_run)
    report = json.loads((page_path.parent / REPORT_JSON).read_text())
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            sizes = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.id, i.complete, i.naturalWidth, i.naturalHeight])"
            )
            cells = page.eval_on_selector_all(
                "[data-stat]", "cells => cells.map(c => [c.dataset.stat, c.innerText])"
            )
            embedded = page.eval_on_selector(
                "#report-data", "script => JSON.parse(script.textContent)"
            )
        finally:
            browser.close()
    assert errors == []
    assert {name for name, *_ in sizes} == {f"figure-{name}" for name in report["figures"]}
    for name, complete, width, height in sizes:
        assert complete and width > 0 and height > 0, name
    assert cells
    for key, text in cells:
        assert text.strip() in {fmt(lookup(report, key), kind) for kind in KINDS}, key
    assert embedded["runs"][0]["table1"] == report["runs"][0]["table1"]
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
