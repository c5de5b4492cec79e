"""The `selfinstruct` command: run the bootstrap, export, summarize, and the review loop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from distilabel_selfinstruct.export import export_run, write_distiset
from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import PoolStore
from distilabel_selfinstruct.seeds import SeedFileError, bundled_seed_path, load_seed_tasks
from distilabel_selfinstruct.summary import RunSummary

SUMMARY_FILENAME = "summary.json"


def _llm_from_args(args: argparse.Namespace):
    if args.base_url or args.model:
        from distilabel.models.llms import OpenAILLM

        # The key is read from OPENAI_API_KEY at load time and never written to YAML.
        return OpenAILLM(model=args.model or "default", base_url=args.base_url)
    from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

    llm = LlamaCppCompletionLLM()
    if args.model_path:
        llm.model_path = args.model_path
    return llm


def _generate(args: argparse.Namespace) -> int:
    from distilabel_selfinstruct.pipeline import build_pipeline

    seed_paths = args.seeds or [str(bundled_seed_path())]
    try:
        seeds = load_seed_tasks(seed_paths)
    except SeedFileError as error:
        print(f"selfinstruct: bad seed file: {error}", file=sys.stderr)
        return 2
    output = Path(args.output)
    argilla = {"dataset_name": args.argilla_dataset} if args.argilla_dataset else None

    def build():
        return build_pipeline(
            llm=_llm_from_args(args),
            num_instructions=args.num_instructions,
            output_dir=output,
            prompt_style=args.prompt_style,
            seeds_path=",".join(seed_paths),
            rounds_batch_size=args.batch_size,
            num_instances=args.num_instances,
            rouge_threshold=args.rouge_threshold,
            random_seed=args.seed,
            argilla=argilla,
        )

    pipeline = build()
    if args.save_yaml:
        pipeline.save(args.save_yaml, format="yaml")
    print(
        f"Self-Instruct: {len(seeds)} seed tasks, target {args.num_instructions} tasks,"
        f" run directory {output} (rerun the same command to resume; a new --output starts over)"
    )
    pool = pool_path_for(output)
    started = time.monotonic()
    finished = -1
    for attempt in range(1, args.max_runs + 1):
        before = finished
        # The pool store is what makes a rerun resume (see docs/architecture.md); distilabel's
        # own cache could mark a killed run's steps finished with work still in flight.
        (pipeline if attempt == 1 else build()).run(use_cache=False)
        with PoolStore(pool) as store:
            finished = store.completed_count()
        # The stop rule works on expectations: tasks in flight can still die after the last
        # round, so go again (resuming) while that leaves the run short and it is progressing.
        if finished >= args.num_instructions or finished <= before:
            break
        print(f"{finished} of {args.num_instructions} tasks finished; continuing the run.")
    elapsed = time.monotonic() - started
    with PoolStore(pool) as store:
        tasks = store.completed()
    write_distiset(tasks, output / "distiset")
    paths = export_run(pool, output)
    summary = RunSummary.from_store(pool, args.num_instructions, elapsed)
    (output / SUMMARY_FILENAME).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    print(summary.render())
    print(f"Wrote {paths['official']}, {paths['alpaca']} and {output / 'distiset'}")
    if summary.tasks_finished < args.num_instructions:
        print(
            f"Finished {summary.tasks_finished} of {args.num_instructions} tasks (round limit"
            " reached or no progress); rerun the same command to continue.",
            file=sys.stderr,
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    pool = pool_path_for(args.output)
    if not pool.exists():
        print(f"selfinstruct: no run in {args.output} ({pool} is missing)", file=sys.stderr)
        return 2
    paths = export_run(pool, args.output)
    print(f"Wrote {paths['official']} and {paths['alpaca']}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    pool = pool_path_for(args.output)
    if not pool.exists():
        print(f"selfinstruct: no run in {args.output} ({pool} is missing)", file=sys.stderr)
        return 2
    print(RunSummary.from_store(pool).render())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfinstruct", description="Self-Instruct bootstrap as a distilabel pipeline."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="grow a task pool from the seeds")
    generate.add_argument("--num-instructions", type=int, default=100)
    generate.add_argument("--output", default="selfinstruct-out", help="run directory")
    generate.add_argument("--seeds", nargs="+", help="seed JSONL files (default: bundled)")
    generate.add_argument("--prompt-style", choices=["completion", "chat"], default=None)
    generate.add_argument("--batch-size", type=int, default=4, help="prompts per round")
    generate.add_argument("--num-instances", type=int, default=5)
    generate.add_argument("--rouge-threshold", type=float, default=0.7)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--model-path", help="a GGUF file for llama.cpp (default: gemma-3-270m)")
    generate.add_argument("--base-url", help="an OpenAI-compatible server (key: OPENAI_API_KEY)")
    generate.add_argument("--model", help="model name on that server")
    generate.add_argument("--argilla-dataset", help="also push finished tasks to Argilla")
    generate.add_argument("--save-yaml", help="write the pipeline as YAML to this path")
    generate.add_argument(
        "--max-runs", type=int, default=3, help="pipeline runs to reach the target (resuming)"
    )
    generate.set_defaults(handler=_generate)

    export = commands.add_parser("export", help="write JSONL and Alpaca JSON of a run")
    export.add_argument("--output", default="selfinstruct-out", help="run directory")
    export.set_defaults(handler=_export)

    summary = commands.add_parser("summary", help="print a run's summary")
    summary.add_argument("--output", default="selfinstruct-out", help="run directory")
    summary.set_defaults(handler=_summary)

    try:
        from distilabel_selfinstruct.argilla.cli import add_subcommands
    except ImportError:
        pass
    else:
        add_subcommands(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
