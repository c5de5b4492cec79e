"""The run directory: one owner for what a Self-Instruct run keeps on disk.

A run directory holds the pool store (`pool.sqlite`, or `pool.url` naming a server's), the
pipeline YAML, the log, distilabel's cache of the current invocation, and what a run ends
with: the exports (`self_instruct.jsonl`, `alpaca.json`, `distiset/`), `summary.json` and
the report. `RunDirectory` owns all of it:

* **identity**: a pool belongs to one run (its seeds, the novelty rule and the filters'
  settings, `BootstrapRun.claim`); another run's pool is refused in one line;
* **the lock**: one command (or pipeline) at a time works in the directory;
* **damaged or blank pools**: a pool killed before its first commit is removed, a pool lost
  beside exports is refused (the exports are the last good copy);
* **the target**: a target below what is already finished is refused, never rewritten;
* **the end**: the exports, `summary.json` and the report, none replacing a file with fewer
  tasks.

Every way of running the loop goes through it: `selfinstruct generate` / `run`, a pipeline
from `build_pipeline(...)` run from Python, and a shared YAML run with `distilabel pipeline
run --config` (our pipelines' `run()` calls `RunDirectory.session`). Its refusals are
`RunDirectoryError`s: one line and an exit code; under distilabel's command line they are
printed as that line, without a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from distilabel_selfinstruct.bootstrap.run import BootstrapRun, RunMismatchError
from distilabel_selfinstruct.files import DirectoryBusyError, atomic_write_text, directory_lock
from distilabel_selfinstruct.pool import (
    PoolDamagedError,
    PoolStore,
    PoolUnavailableError,
    is_networked,
    open_pool_store,
    pool_is_blank,
    split_password,
)
from distilabel_selfinstruct.seeds import SeedFileError, load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel_selfinstruct.seeds import SeedTask
    from distilabel_selfinstruct.summary import RunSummary

POOL_FILENAME = "pool.sqlite"
POOL_URL_FILENAME = "pool.url"  # a run whose pool is on a server names it here
CACHE_DIRNAME = "cache"

EXIT_FAILED = 1  # something failed while running (a server, the disk, a damaged pool)
EXIT_INPUT = 2  # bad input: an argument, a file given, a run directory of another run


class RunDirectoryError(Exception):
    """A run directory that cannot be used as asked, or outputs that cannot be written:
    one line, with the exit code a command line reports it with."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


def pool_path_for(output_dir: Union[str, Path]) -> Path:
    """The run directory's own SQLite pool (the default store)."""
    return Path(output_dir) / POOL_FILENAME


def pool_location_for(output_dir: Union[str, Path]) -> str:
    """Where the run in `output_dir` keeps its pool: the server its `pool.url` names (a
    run started with a `postgresql://` pool), else its `pool.sqlite`."""
    marker = Path(output_dir) / POOL_URL_FILENAME
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip()
    return str(pool_path_for(output_dir))


def record_pool_location(output_dir: Union[str, Path], location: str) -> None:
    """Notes a server pool in the run directory, so that `export`, `summary`, `report`
    and `verify` on the directory find it (the URL without its password); a file pool
    removes the note."""
    marker = Path(output_dir) / POOL_URL_FILENAME
    if is_networked(location):
        atomic_write_text(marker, split_password(location)[0] + "\n")
    else:
        marker.unlink(missing_ok=True)  # the directory's own pool.sqlite again


def fresh_cache(run_dir: Path) -> Path:
    """Empties `<run_dir>/cache` for a new invocation and returns it. The old cache is
    renamed first, so a kill during the deletion leaves no half-deleted cache in use.
    (distilabel's cache is not the run's state, the pool is: a kill could leave it
    marking work finished that was still in flight.)"""
    cache = run_dir / CACHE_DIRNAME
    for leftover in run_dir.glob(f".{CACHE_DIRNAME}-old-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if cache.exists():
        aside = run_dir / f".{CACHE_DIRNAME}-old-{os.getpid()}-{time.time_ns()}"
        os.replace(cache, aside)
        shutil.rmtree(aside, ignore_errors=True)
    return cache


def filter_settings(
    pipeline: Any, parameters: Optional[dict[str, dict[str, Any]]] = None
) -> dict[str, str]:
    """A fingerprint of every filter step's settings in a pipeline (with the runtime
    `parameters` the run is given), by step name: part of a run's identity, since the
    filters decide what is accepted."""
    from distilabel_selfinstruct.filters.base import DropRecorder

    # What does not decide acceptance: batching, placement, the run itself.
    ignored = {"name", "input_batch_size", "resources", "run", "input_mappings"}
    ignored |= {"output_mappings", "use_cache", "type_info", "runtime_parameters_info"}
    settings = {}
    for name in pipeline.dag:
        step = pipeline.dag.get_step(name)["step"]
        if not isinstance(step, DropRecorder):
            continue
        dump = {key: value for key, value in step.dump().items() if key not in ignored}
        dump.update((parameters or {}).get(name, {}))
        # JSON with `str` for the rest: a pipeline built in Python and the same one loaded
        # from its YAML give the same text (tuples and lists alike, paths as text).
        text = json.dumps(dump, sort_keys=True, default=str)
        settings[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return settings


class RunDirectory:
    """One run directory and the run whose pool is in it (see the module docstring).

    Args:
        run: the loop's `BootstrapRun` (its pool, target, seeds and novelty settings).
        output: the run directory; default: the pool file's directory, or (a pool on a
            server) `run.output_dir`.
        filters: the filters' settings (`filter_settings`), part of the run's identity.
    """

    def __init__(
        self,
        run: BootstrapRun,
        output: Optional[Union[str, Path]] = None,
        filters: Optional[dict[str, str]] = None,
    ) -> None:
        self.run = run
        if output is None:
            output = run.output_dir or (
                Path.cwd() if run.networked_pool else Path(run.pool_path).parent
            )
        self.output = Path(output)
        self.filters = filters

    @classmethod
    def of_pipeline(
        cls, pipeline: Any, parameters: Optional[dict[str, dict[str, Any]]] = None
    ) -> Optional[RunDirectory]:
        """The run directory of a pipeline with the Self-Instruct loop (its
        `SampleDemonstrations` step's run; `parameters`: the runtime parameters it runs
        with), `None` for any other pipeline."""
        from distilabel_selfinstruct.sampling import SampleDemonstrations

        runs = [
            step.run
            for step in (pipeline.dag.get_step(name)["step"] for name in pipeline.dag)
            if isinstance(step, SampleDemonstrations) and step.run is not None
        ]
        if not runs:
            return None
        if len(runs) > 1:
            raise RunDirectoryError("a pipeline with more than one SampleDemonstrations step")
        return cls(runs[0], filters=filter_settings(pipeline, parameters))

    # -- before a run -------------------------------------------------------------------

    def seeds(self) -> list[SeedTask]:
        try:
            return load_seed_tasks(seed_paths(self.run.seeds_path))
        except SeedFileError as error:
            raise RunDirectoryError(f"bad seed file: {error}") from None

    def check(self, seeds: Optional[Sequence[SeedTask]] = None) -> None:
        """The directory is a directory; its pool (if any) is sound, belongs to this run
        (seeds, novelty rule, filters) and has no more finished tasks than the target. A
        pool created and killed before its first commit is removed.

        Raises:
            RunDirectoryError: why the run cannot go on here (one line).
        """
        seeds = self.seeds() if seeds is None else seeds
        with _one_line():
            self._check(seeds)

    def _check(self, seeds: Sequence[SeedTask]) -> None:
        output, run = self.output, self.run
        if output.exists() and not output.is_dir():
            raise RunDirectoryError(f"{output}: is a file, not a run directory")
        self._check_same_pool()
        if run.networked_pool:
            try:
                store = open_pool_store(run.pool_path, create=False)
            except PoolDamagedError:
                if self.exported_count():
                    raise RunDirectoryError(
                        f"{run.pool_path} holds no pool but {self.official_path} has tasks:"
                        " is it the database this run started in? (the exports are the last"
                        " good copy)",
                        EXIT_FAILED,
                    ) from None
                return  # a new database: the run creates the pool
            self._check_pool(store, seeds)
            return
        pool = Path(run.pool_path)
        exported = self.exported_count()
        if not pool.exists() or pool_is_blank(pool):
            wal = pool.with_name(pool.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise PoolDamagedError(f"{pool}: holds no tables beside a non-empty {wal.name}")
            if exported:
                state = "missing" if not pool.exists() else "empty"
                raise RunDirectoryError(
                    f"{pool} is {state} but {self.official_path} holds {exported} tasks:"
                    " the pool was lost; the exports are the last good copy (move the"
                    " directory away to start over)",
                    EXIT_FAILED,
                )
            # Created and killed before its first commit: nothing in it.
            for path in (pool, wal, pool.with_name(pool.name + "-shm")):
                path.unlink(missing_ok=True)
            return
        self._check_pool(open_pool_store(pool, create=False), seeds)

    def _check_same_pool(self) -> None:
        """A run directory keeps the pool it started with: a rerun naming another would
        start a second run beside the first (and the exports would follow one of them)."""
        recorded = pool_location_for(self.output)
        pool = self.run.pool_path
        if is_networked(recorded) and recorded != split_password(pool)[0]:
            raise RunDirectoryError(
                f"{self.output}: its pool is {recorded}; rerun with that pool (--pool"
                f" {recorded}), or use another run directory"
            )
        if is_networked(pool) and Path(recorded).exists():
            raise RunDirectoryError(
                f"{self.output}: its pool is {recorded}; rerun without a server pool, or use"
                " another run directory"
            )

    def _check_pool(self, store: PoolStore, seeds: Sequence[SeedTask]) -> None:
        """The opened pool (closed here) is sound, this run's, and not past the target."""
        with store:
            problems = store.integrity_problems()
            if problems:
                raise PoolDamagedError(f"{store.location}: damaged ({problems[0]})")
            # The generator records the identity, once running.
            self.run.claim(store, seeds, record=False, filters=self.filters)
            finished = store.completed_count()
        if finished > self.run.num_instructions:
            raise RunDirectoryError(
                f"{self.output} already has {finished} finished tasks, more than the target"
                f" {self.run.num_instructions}: ask for at least {finished}, or use another"
                " run directory"
            )

    def exported_count(self) -> int:
        from distilabel_selfinstruct.export import exported_task_count

        try:
            return exported_task_count(self.official_path)
        except OSError:
            return 0

    @property
    def official_path(self) -> Path:
        from distilabel_selfinstruct.export import OFFICIAL_FILENAME

        return self.output / OFFICIAL_FILENAME

    @contextmanager
    def session(self) -> Iterator[Path]:
        """For one invocation of the pipeline: holds the directory's lock, checks the
        directory (`check`), notes a server pool, and yields a fresh, empty cache
        directory for distilabel.

        Raises:
            RunDirectoryError: another command works in the directory, or `check` refused.
        """
        self.output.mkdir(parents=True, exist_ok=True)
        try:
            with directory_lock(self.output, "another selfinstruct run"):
                seeds = self.seeds()
                self.check(seeds)
                with _one_line():
                    record_pool_location(self.output, self.run.pool_path)
                    # The identity, filters included, before any step writes: a kill in
                    # this invocation leaves a pool a changed rerun is refused on.
                    with open_pool_store(self.run.pool_path) as store:
                        self.run.claim(store, seeds, filters=self.filters)
                    cache = fresh_cache(self.output)
                yield cache
        except DirectoryBusyError as error:
            raise RunDirectoryError(str(error)) from None

    # -- after a run ---------------------------------------------------------------------

    def write_outputs(self, target: Optional[int], elapsed: Optional[float]) -> RunSummary:
        """The exports, then `summary.json`, both refusing to replace a file with fewer
        tasks; returns the summary.

        Raises:
            RunDirectoryError: an export was refused or could not be written (the old
                files stay).
        """
        from distilabel_selfinstruct.export import (
            ExportRefusedError,
            ExportWriteError,
            export_run,
        )
        from distilabel_selfinstruct.summary import SUMMARY_FILENAME, RunSummary

        pool = self.run.pool_path
        try:
            export_run(pool, self.output)
            summary = RunSummary.from_store(pool, target, elapsed)
            _write_summary(self.output / SUMMARY_FILENAME, summary)
        except ExportRefusedError as error:
            raise RunDirectoryError(str(error), EXIT_FAILED) from None
        except ExportWriteError as error:
            raise RunDirectoryError(
                f"{error} (none of the exports was replaced; fix that and run"
                f" `selfinstruct export --output {self.output}`)",
                EXIT_FAILED,
            ) from None
        except OSError as error:
            raise RunDirectoryError(
                f"cannot write the exports in {self.output}: {error.strerror or error}"
                " (the previous files are untouched; free the space and run"
                f" `selfinstruct export --output {self.output}`)",
                EXIT_FAILED,
            ) from None
        return summary

    def write_report(self) -> Path:
        """The run's report (`report.json`, figures, `report.html`); returns the page.

        Raises:
            RunDirectoryError: it could not be written (the run's data is saved anyway).
        """
        from distilabel_selfinstruct.report import write_report

        try:
            return write_report(self.output)
        except Exception as error:  # noqa: BLE001 - the run itself succeeded
            first = (str(error).strip().splitlines() or [""])[0]
            raise RunDirectoryError(
                f"the report was not written ({type(error).__name__}: {first}); the run's"
                f" data is saved: retry with `selfinstruct report --output {self.output}`",
                EXIT_FAILED,
            ) from None

    def finish(self, elapsed: Optional[float] = None) -> RunSummary:
        """What a run ends with: the exports, `summary.json` and the report (a report that
        fails costs the run nothing: it is logged, not raised).

        Raises:
            RunDirectoryError: the exports or the summary could not be written.
        """
        import logging

        summary = self.write_outputs(self.run.num_instructions, elapsed)
        try:
            self.write_report()
        except RunDirectoryError as error:
            logging.getLogger("distilabel_selfinstruct").warning(str(error))
        return summary


def _write_summary(path: Path, summary: RunSummary) -> None:
    from distilabel_selfinstruct.export import ExportRefusedError

    try:
        before = json.loads(path.read_text(encoding="utf-8")).get("tasks_finished", 0)
    except (OSError, ValueError, AttributeError):
        before = 0
    if isinstance(before, int) and summary.tasks_finished < before:
        raise ExportRefusedError(
            f"{path} counts {before} finished tasks but the pool only {summary.tasks_finished}:"
            " not replaced"
        )
    atomic_write_text(path, json.dumps(summary.to_dict(), indent=2) + "\n")


@contextmanager
def _one_line() -> Iterator[None]:
    """The pool's and the run's own errors as `RunDirectoryError`s, with their exit code."""
    try:
        yield
    except RunMismatchError as error:
        raise RunDirectoryError(str(error)) from None
    except PoolDamagedError as error:
        raise RunDirectoryError(
            f"{error} (the exports on disk, if any, are the last good copy)", EXIT_FAILED
        ) from None
    except PoolUnavailableError as error:
        fix = "once there is room" if "disk" in str(error) else "once it is reachable"
        raise RunDirectoryError(
            f"{error} (nothing was changed; rerun {fix})", EXIT_FAILED
        ) from None
