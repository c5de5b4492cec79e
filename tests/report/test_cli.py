"""`selfinstruct report` from the command line: the files, and one line for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.cli import main


def test_report_writes_the_page_and_says_where(
    hand_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--output", str(hand_run)]) == 0
    assert str(hand_run / "report" / "report.html") in capsys.readouterr().out
    assert (hand_run / "report" / "report.json").is_file()


def test_a_missing_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--output", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run in" in err[0]
