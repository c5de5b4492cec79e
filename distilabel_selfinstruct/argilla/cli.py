"""`selfinstruct push` / `selfinstruct pull`: the review round trip from the command line.

Exit codes: 0 success, 1 review server error (one line on stderr, no
traceback), 2 bad input (missing/invalid file, bad arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from distilabel_selfinstruct.argilla.push import (
    API_KEY_ENV,
    API_URL_ENV,
    DEFAULT_API_URL,
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    WORKSPACE_ENV,
    ReviewServerError,
)

EXIT_OK, EXIT_SERVER, EXIT_INPUT = 0, 1, 2


def _error(message: str) -> None:
    print(f"selfinstruct: error: {message}", file=sys.stderr)


def _server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="Argilla dataset name")
    parser.add_argument(
        "--workspace",
        default=os.getenv(WORKSPACE_ENV),
        help=f"Argilla workspace (default: ${WORKSPACE_ENV}, else the server's first workspace)",
    )
    parser.add_argument(
        "--api-url",
        default=os.getenv(API_URL_ENV, DEFAULT_API_URL),
        help=f"Argilla URL (default: ${API_URL_ENV}, else {DEFAULT_API_URL})",
    )
    # The key's value is never printed: argparse help shows only the env var name.
    parser.add_argument(
        "--api-key", default=None, help=f"Argilla API key (default: ${API_KEY_ENV})"
    )


def _batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be in 1..{MAX_BATCH_SIZE}")
    return value


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Adds `push` and `pull`; each sets `func` and `handler` (namespace -> exit code)."""
    push = subparsers.add_parser(
        "push",
        help="push official Self-Instruct JSONL to Argilla for human review",
        description="Upserts one record per task instance; "
        "re-pushing the same tasks creates no new records.",
    )
    push.add_argument(
        "--input",
        required=True,
        help="official Self-Instruct JSONL written by the pipeline",
    )
    _server_args(push)
    push.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH_SIZE,
        help="records per request (<=500)",
    )
    push.add_argument(
        "--min-submitted",
        type=int,
        default=1,
        help="reviews needed to complete a record (only used when creating the dataset)",
    )
    push.set_defaults(func=cmd_push, handler=cmd_push)

    pull = subparsers.add_parser(
        "pull",
        help="pull reviews from Argilla and write the curated dataset",
        description="Writes curated.jsonl (official), alpaca.json, "
        "hf/ (datasets.save_to_disk), summary.json and reviews.jsonl (the pulled votes).",
    )
    _server_args(pull)
    pull.add_argument(
        "--output",
        required=True,
        help="output directory (for a run RUN: RUN/review, where `selfinstruct report` looks)",
    )
    pull.add_argument(
        "--include-unreviewed",
        action="store_true",
        help="keep instances nobody reviewed (default: excluded)",
    )
    pull.add_argument("--no-hf", action="store_true", help="skip the HF datasets copy")
    pull.set_defaults(func=cmd_pull, handler=cmd_pull)


def cmd_push(args: argparse.Namespace) -> int:
    from distilabel_selfinstruct.argilla.push import push_tasks
    from distilabel_selfinstruct.argilla.records import read_jsonl_tasks

    try:
        tasks = read_jsonl_tasks(args.input)
    except OSError as e:
        _error(f"cannot read {args.input}: {e.strerror or e}")
        return EXIT_INPUT
    except ValueError as e:
        _error(str(e))
        return EXIT_INPUT
    try:
        result = push_tasks(
            tasks,
            dataset_name=args.dataset,
            workspace=args.workspace,
            api_url=args.api_url,
            api_key=args.api_key,
            batch_size=args.batch_size,
            min_submitted=args.min_submitted,
        )
    except ReviewServerError as e:
        _error(str(e))
        return EXIT_SERVER
    print(result.summary())
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    from distilabel_selfinstruct.argilla.review import (
        curate,
        judge_agreement_line,
        pull_reviews,
        summary_line,
        write_curated,
    )
    from distilabel_selfinstruct.report import REVIEW_DIRNAME
    from distilabel_selfinstruct.run_directory import POOL_FILENAME

    output = Path(args.output)
    if (output / POOL_FILENAME).exists():
        # Its summary.json is the run's: the curated one would replace it.
        _error(
            f"--output {output} is a generate run's directory; pull into"
            f" --output {output / REVIEW_DIRNAME} (where `selfinstruct report` looks)"
        )
        return EXIT_INPUT
    try:
        records = pull_reviews(
            dataset_name=args.dataset,
            workspace=args.workspace,
            api_url=args.api_url,
            api_key=args.api_key,
        )
    except ReviewServerError as e:
        _error(str(e))
        return EXIT_SERVER
    result = curate(records, include_unreviewed=args.include_unreviewed)
    try:
        paths = write_curated(result, args.output, hf=not getattr(args, "no_hf", False))
    except OSError as e:
        _error(f"cannot write to {args.output}: {e.strerror or e}")
        return EXIT_INPUT
    print(summary_line(result.summary))
    judged = judge_agreement_line(result.summary.get("judge_agreement") or {})
    if judged:
        print(judged)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (the project CLI calls `add_subcommands` instead)."""
    parser = argparse.ArgumentParser(prog="selfinstruct")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
