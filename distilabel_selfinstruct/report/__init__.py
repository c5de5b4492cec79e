"""The run report: the paper's statistics and figures for your own run.

`selfinstruct report --output RUN` (also run at the end of `generate`) writes `RUN/report/`:
`report.json` (every number), one PNG per figure and `report.html`, one self-contained page.

- `statistics`: the numbers, pure functions of task records (Table 1, Figures 2–4,
  diversity, acceptance per round, classification, cost).
- `verbs`: the verb and direct object of an instruction, by rule (Figure 2).
- `figures`: the PNGs, drawn from the numbers.
- `page`: the HTML page.
- `build`: reads a run directory (and its pulled reviews) and writes the report.
"""

from distilabel_selfinstruct.report.build import (
    REPORT_DIRNAME,
    REPORT_HTML,
    REPORT_JSON,
    REVIEW_DIRNAME,
    ReportError,
    report_dir_for,
    run_statistics,
    write_report,
)

__all__ = [
    "REPORT_DIRNAME",
    "REPORT_HTML",
    "REPORT_JSON",
    "REVIEW_DIRNAME",
    "ReportError",
    "report_dir_for",
    "run_statistics",
    "write_report",
]
