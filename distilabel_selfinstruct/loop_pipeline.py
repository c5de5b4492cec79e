"""The pipelines our steps run in: distilabel's own, with what the Self-Instruct loop needs.

Importing the package changes nothing in distilabel. A pipeline that contains our steps is
one of ours:

* `SelfInstructPipeline` is distilabel's local `Pipeline` with our distilabel fixes
  (`compat.pipeline.with_loop_fixes`; docs/upstream.md) and a `run()` that goes through the
  run directory's owner (`run_directory.RunDirectory`) when the pipeline holds the loop: the
  same one-line refusals, lock and checks before, and the same exports, `summary.json` and
  report after, as the `selfinstruct` command;
* `SelfInstructRayPipeline` is the same on Ray (`compat.distilabel_ray.WatchedRayPipeline`,
  `to_ray`).

A pipeline becomes one of ours when one of our steps joins it (`adopt`, from the steps'
`model_post_init`): a plain `Pipeline`, as `distilabel pipeline run --config` builds from a
shared YAML or as a user writes `with Pipeline() as pipeline:`, becomes a
`SelfInstructPipeline` (the same object, its class a subclass of the one it had), so every
way of running it gets the fixes and the run directory's guarantees. A pipeline with none of
our steps is never touched. Saved, our pipelines name distilabel's `Pipeline`, as a
`RayPipeline` does: the YAML needs nothing of ours to load but the steps.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import QueueHandler
from pathlib import Path
from typing import Any, Callable, Optional

from distilabel.pipeline import Pipeline
from distilabel.pipeline.base import BasePipeline
from distilabel.utils.serialization import TYPE_INFO_KEY

from distilabel_selfinstruct.compat.pipeline import has_loop_fixes, with_loop_fixes

__all__ = [
    "JoinsLoopPipeline",
    "SelfInstructPipeline",
    "adopt",
    "to_ray",
]

_logger = logging.getLogger("distilabel_selfinstruct")


def run_in_directory(pipeline: Any, run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`run(*args, **kwargs)` (distilabel's `run` of `pipeline`) inside the pipeline's run
    directory when it holds the Self-Instruct loop (see the module docstring): the lock
    and checks first, distilabel's cache fresh in the run directory (the loop's state is
    the pool, never distilabel's cache, so `use_cache` is always off), and the exports,
    summary and report at the end, also after a run that failed (what it finished is
    kept). Any other pipeline just runs."""
    from distilabel_selfinstruct.run_directory import RunDirectory, RunDirectoryError

    try:
        parameters = args[0] if args else kwargs.get("parameters")
        directory = RunDirectory.of_pipeline(pipeline, parameters)
        if directory is None:
            return run(*args, **kwargs)
        with directory.session() as cache:
            pipeline.use_cache_dir(cache)
            kwargs["use_cache"] = False
            started = time.monotonic()
            try:
                distiset = run(*args, **kwargs)
            except BaseException:
                with _logging_after_the_run(pipeline):
                    _finish_quietly(directory, time.monotonic() - started)
                raise
            with _logging_after_the_run(pipeline):
                directory.finish(time.monotonic() - started)
        return distiset
    except RunDirectoryError as error:
        _exit_if_under_a_command_line(error)
        raise


@contextmanager
def _logging_after_the_run(pipeline: Any) -> Iterator[None]:
    """Logging that works after distilabel's `run()`: distilabel leaves the root logger's
    handler writing to the pipeline's log queue (`_log_queue`), closed by then, and a
    record put there fails, or blocks the process's exit once the pipe is full. For the
    block, records go to stderr (warnings and above) instead; distilabel's handler is put
    back after (its next run replaces it)."""
    root = logging.getLogger()
    queue = getattr(pipeline, "_log_queue", None)
    stale = [h for h in root.handlers if isinstance(h, QueueHandler) and h.queue is queue]
    for handler in stale:
        root.removeHandler(handler)
    fallback = logging.StreamHandler()
    fallback.setLevel(logging.WARNING)
    root.addHandler(fallback)
    try:
        yield
    finally:
        root.removeHandler(fallback)
        for handler in stale:
            root.addHandler(handler)


def _finish_quietly(directory: Any, elapsed: float) -> None:
    """The exports after a failed run, if it left a pool; their own failure is logged."""
    from distilabel_selfinstruct.run_directory import RunDirectoryError

    try:
        directory.write_outputs(directory.run.num_instructions, elapsed)
    except (RunDirectoryError, OSError, ValueError) as error:
        _logger.warning(f"the exports were not written: {error}")
    except Exception as error:  # noqa: BLE001 - the run's own error is the one to raise
        _logger.warning(f"the exports were not written: {type(error).__name__}: {error}")


def _exit_if_under_a_command_line(error: Any) -> None:
    """In the process of distilabel's own command line (`distilabel pipeline run`), a
    refusal is one line on stderr and its exit code, not the traceback typer would print;
    from Python it is raised."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    distilabel_cli = program is not None and (
        program.name == "distilabel" or program.parts[-2:] == ("distilabel", "__main__.py")
    )
    if not distilabel_cli or sys.argv[1:3] != ["pipeline", "run"]:
        return
    print(f"distilabel_selfinstruct: {error}", file=sys.stderr, flush=True)
    raise SystemExit(error.code)


def _loop_pipeline_class(base: type, name: str, doc: str) -> type:
    """`base` with our fixes and the run directory's `run()`, as `name` of this module."""
    fixed = with_loop_fixes(base, f"_{name}Base", f"`{base.__name__}` with our fixes.")

    class Loop(fixed):  # type: ignore[valid-type,misc]
        def run(self, *args: Any, **kwargs: Any) -> Any:
            return run_in_directory(self, super().run, *args, **kwargs)

    Loop.__name__ = Loop.__qualname__ = name
    Loop.__module__ = __name__
    Loop.__doc__ = doc
    return Loop


_LocalLoopPipeline = _loop_pipeline_class(
    Pipeline, "_LocalLoopPipeline", "The base of `SelfInstructPipeline`."
)


class SelfInstructPipeline(_LocalLoopPipeline):  # type: ignore[valid-type,misc]
    """distilabel's local `Pipeline` for pipelines with our steps: the same API, plus our
    distilabel fixes and, for the Self-Instruct loop, the run directory's guarantees (see
    the module docstring). Use it like `Pipeline`; a plain `Pipeline` that one of our steps
    joins becomes one (`adopt`)."""

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        # Saved as distilabel's `Pipeline` (as `RayPipeline` does): a shared YAML names no
        # pipeline class of ours, and our steps make it one of ours again where it is loaded.
        dump = super().dump(**kwargs)
        dump["pipeline"][TYPE_INFO_KEY] = {"module": Pipeline.__module__, "name": Pipeline.__name__}
        return dump


_RAY_NAMES = ("SelfInstructRayPipeline", "_AdoptedRayPipeline")


def _ray_classes() -> tuple[type, type]:
    """(our Ray pipeline, the class a plain `RayPipeline` becomes), made on first use (Ray
    is an optional extra) and bound to their names in this module, where pickle looks."""
    if _RAY_NAMES[0] not in globals():
        from distilabel.pipeline.ray import RayPipeline

        from distilabel_selfinstruct.compat.distilabel_ray import WatchedRayPipeline

        globals()[_RAY_NAMES[0]] = _loop_pipeline_class(
            WatchedRayPipeline,
            _RAY_NAMES[0],
            "`SelfInstructPipeline` on Ray: distilabel's `RayPipeline` with the Ray fix"
            " (`compat.distilabel_ray`), our distilabel fixes and the run directory's `run()`.",
        )
        globals()[_RAY_NAMES[1]] = _loop_pipeline_class(
            RayPipeline, _RAY_NAMES[1], "A distilabel `RayPipeline` that one of our steps joined."
        )
    return globals()[_RAY_NAMES[0]], globals()[_RAY_NAMES[1]]


def __getattr__(name: str) -> Any:
    # The Ray classes resolve (made on first use) wherever they are looked up by name, as
    # unpickling in a Ray worker does.
    if name in _RAY_NAMES:
        return _ray_classes()[_RAY_NAMES.index(name)]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_ray(
    pipeline: Pipeline,
    ray_head_node_url: Optional[str] = None,
    ray_init_kwargs: Optional[dict[str, Any]] = None,
) -> Any:
    """`pipeline.ray()` as our Ray pipeline (the same DAG and settings): a
    `SelfInstructRayPipeline`, or, where `$SELFINSTRUCT_DISABLE_COMPAT` names
    `distilabel_ray`, distilabel's `RayPipeline` with only our distilabel fixes."""
    from distilabel_selfinstruct.compat import distilabel_ray

    watched, adopted = _ray_classes()
    cls = (
        watched
        if distilabel_ray.ray_pipeline_class() is distilabel_ray.WatchedRayPipeline
        else adopted
    )
    return distilabel_ray.to_ray(pipeline, ray_head_node_url, ray_init_kwargs, cls=cls)


_warned_classes: set[type] = set()


def adopt(pipeline: Any) -> Any:
    """Makes `pipeline` (the one a step of ours joined) one of our pipelines: a plain
    `Pipeline` becomes a `SelfInstructPipeline`, a plain `RayPipeline` distilabel's Ray
    pipeline with our fixes; one of ours stays as it is. Another pipeline class keeps
    distilabel's behaviour, with one warning naming what may then hang. Returns it."""
    if pipeline is None or has_loop_fixes(pipeline):
        return pipeline
    cls = type(pipeline)
    if cls is Pipeline:
        pipeline.__class__ = SelfInstructPipeline
        return pipeline
    if cls.__name__ == "RayPipeline" and cls.__module__ == "distilabel.pipeline.ray":
        pipeline.__class__ = _ray_classes()[1]
        return pipeline
    if isinstance(pipeline, BasePipeline) and cls not in _warned_classes:
        _warned_classes.add(cls)
        warnings.warn(
            f"{cls.__name__} is not a distilabel_selfinstruct pipeline: distilabel's"
            " empty-last-batch bug is not fixed there, so a Self-Instruct loop in it may hang"
            " (use distilabel_selfinstruct.SelfInstructPipeline)",
            RuntimeWarning,
            stacklevel=3,
        )
    return pipeline


class JoinsLoopPipeline:
    """Mixin of our steps (before distilabel's step class in the bases): the pipeline a step
    joins becomes one of ours (`adopt`), so the fixes it needs reach it however it is run."""

    def model_post_init(self, __context: Any) -> None:
        super().model_post_init(__context)  # type: ignore[misc]
        adopt(getattr(self, "pipeline", None))
