"""The report as one self-contained HTML page (`page.html.jinja2`): figures inline as data
URIs, the numbers from `report.json` (each table cell names its key in `data-stat`), and
`report.json` itself in a `<script type="application/json">`, so nothing loads from a network.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Optional

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

TABLE1_ROWS = (
    ("instructions", "instructions (finished tasks)", "int"),
    ("classification", "classification instructions", "int"),
    ("non_classification", "non-classification instructions", "int"),
    ("classification_share", "classification share", "pct"),
    ("instances", "instances", "int"),
    ("instances_per_task", "instances per task", "f2"),
    ("empty_input", "instances with empty input", "int"),
    ("empty_input_share", "share of instances with empty input", "pct"),
    ("instruction_words_mean", "mean instruction length (words)", "f1"),
    ("instruction_words_std", "std of instruction length", "f1"),
    ("input_words_mean", "mean non-empty input length (words)", "f1"),
    ("input_words_std", "std of non-empty input length", "f1"),
    ("output_words_mean", "mean output length (words)", "f1"),
    ("output_words_std", "std of output length", "f1"),
)
REVIEW_ROWS = (
    ("instruction_valid", "instruction describes a valid task"),
    ("input_appropriate", "input is appropriate for the instruction"),
    ("output_acceptable", "output is a correct and acceptable response"),
    ("all_three", "all fields are valid"),
)


def fmt(value: Any, kind: str) -> str:
    """A number as the page shows it; "–" for a missing one."""
    if value is None:
        return "–"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "usd":
        return f"${value:.4f}"
    return f"{value:.{int(kind[1:])}f}"  # "f1" -> one decimal


@cache
def _template() -> Template:
    source = resources.files(__package__).joinpath("page.html.jinja2").read_text("utf-8")
    environment = Environment(undefined=StrictUndefined, autoescape=True)
    return environment.from_string(source)


def render(report: dict[str, Any], images: dict[str, str]) -> str:
    """The page for `report` (report.json's content); `images`: figure -> base64 PNG."""

    def figure(name: str) -> Optional[Markup]:
        if name not in images:
            return Markup("")
        return Markup(
            f'<img id="figure-{name}" alt="{name}" src="data:image/png;base64,{images[name]}">'
        )

    # "</" would end the script element early; "<\/" is the same JSON string.
    data = json.dumps(report, ensure_ascii=False).replace("</", "<\\/")
    return _template().render(
        **report,
        table1_rows=TABLE1_ROWS,
        review_rows=REVIEW_ROWS,
        fmt=fmt,
        figure=figure,
        report_json=Markup(data),
    )
