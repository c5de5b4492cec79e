"""`selfinstruct push` / `pull` argument handling and error paths that need no server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from distilabel_selfinstruct.argilla import cli
from tests.argilla.helpers import make_task, unused_port


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="selfinstruct")
    cli.add_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_push_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGILLA_API_URL", "http://example:6900")
    args = parse(["push", "--input", "t.jsonl", "--dataset", "d"])
    assert (args.input, args.dataset, args.api_url, args.api_key) == (
        "t.jsonl",
        "d",
        "http://example:6900",
        None,
    )
    assert args.func is args.handler is cli.cmd_push and args.batch_size == 256


def test_pull_arguments() -> None:
    args = parse(["pull", "--dataset", "d", "--workspace", "w", "--output", "o"])
    assert (args.dataset, args.workspace, args.output, args.include_unreviewed) == (
        "d",
        "w",
        "o",
        False,
    )
    assert parse(
        ["pull", "--dataset", "d", "--output", "o", "--include-unreviewed"]
    ).include_unreviewed
    assert args.func is args.handler is cli.cmd_pull


def test_batch_size_is_bounded() -> None:
    with pytest.raises(SystemExit):
        parse(["push", "--input", "t", "--dataset", "d", "--batch-size", "501"])


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["push", "--input", str(tmp_path / "nope.jsonl"), "--dataset", "d"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INPUT
    assert err.count("\n") == 1 and "cannot read" in err


def test_invalid_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "no id"}\n')
    assert cli.main(["push", "--input", str(path), "--dataset", "d"]) == cli.EXIT_INPUT
    assert "bad.jsonl:1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["push", "pull"])
def test_server_down_is_one_line_and_exit_1(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(make_task(0)) + "\n")
    url = f"http://127.0.0.1:{unused_port()}"
    common = ["--dataset", "d", "--api-url", url, "--api-key", "k"]
    argv = [command, *common] + (
        ["--input", str(path)] if command == "push" else ["--output", str(tmp_path / "o")]
    )
    assert cli.main(argv) == cli.EXIT_SERVER
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"selfinstruct: error: cannot reach Argilla at {url}")
    assert "Traceback" not in err
    assert path.read_text() == json.dumps(make_task(0)) + "\n"  # local data intact


def test_pull_refuses_a_run_directory_whose_summary_it_would_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pool.sqlite").write_bytes(b"")
    (tmp_path / "summary.json").write_text('{"tasks_finished": 3}\n')
    code = cli.main(["pull", "--dataset", "d", "--output", str(tmp_path)])
    assert code == cli.EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--output {tmp_path / 'review'}" in err[0]
    assert (tmp_path / "summary.json").read_text() == '{"tasks_finished": 3}\n'
