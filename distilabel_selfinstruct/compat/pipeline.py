"""The pipelines our steps run in: distilabel's, with our distilabel fixes scoped to them.

Importing this package changes nothing in distilabel. The three distilabel 1.5.3 bugs the
Self-Instruct loop cannot avoid (`distilabel_batch_manager`, `distilabel_pipeline_cache`,
`distilabel_cache_writes`; docs/upstream.md has each bug, a reproduction with plain
distilabel and the patch we would send) are fixed by overriding the private methods in
subclasses of distilabel's pipeline classes (`with_loop_fixes`), not by replacing them on
distilabel's classes:

* `SelfInstructPipeline` is distilabel's local `Pipeline` with them;
* `compat.distilabel_ray.LoopRayPipeline` is its `RayPipeline` with them, and
  `WatchedRayPipeline` adds the Ray fix.

A pipeline becomes one of ours when one of our steps joins it (`adopt`, called from the
steps' `model_post_init`): a plain `Pipeline`, as `distilabel pipeline run --config` builds
from a shared YAML or as a user writes `with Pipeline() as pipeline:`, is turned into a
`SelfInstructPipeline` (the same object, its class a subclass of the one it had), so the
fixes reach every way of running it. A pipeline with none of our steps keeps distilabel's
behaviour to the letter, in the same process. Each fix still keeps its version and source
guard: outside the distilabel it was checked on, the override calls distilabel's own method
and warns once.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from distilabel.pipeline import Pipeline
from distilabel.pipeline.base import BasePipeline
from distilabel.utils.serialization import TYPE_INFO_KEY

from distilabel_selfinstruct.compat import (
    distilabel_batch_manager,
    distilabel_cache_writes,
    distilabel_pipeline_cache,
)

__all__ = [
    "JoinsLoopPipeline",
    "SelfInstructPipeline",
    "adopt",
    "has_loop_fixes",
    "with_loop_fixes",
]


def with_loop_fixes(base: type, name: str, doc: str) -> type:
    """`base` (a distilabel pipeline class) with our fixes, as a class named `name` of this
    module's caller. A direct subclass with no instance layout of its own, so that `adopt`
    can turn a `base` object into one by assigning its class (a mixin base would change
    the layout CPython compares)."""

    class Fixed(base):  # type: ignore[valid-type,misc]
        _selfinstruct_loop_fixes = True

        def _refresh_pipeline_from_cache(self) -> None:
            if distilabel_pipeline_cache.FIX.active():
                distilabel_pipeline_cache.set_aside_damaged(self)
            super()._refresh_pipeline_from_cache()

        @property
        def _cache_location(self) -> Any:
            if not distilabel_cache_writes.active():
                return super()._cache_location
            return distilabel_cache_writes.cache_location(
                self, lambda: super(Fixed, self)._cache_location
            )

        def _cache(self) -> None:
            if not distilabel_cache_writes.active():
                super()._cache()
                return
            # After a batch the batch manager is written at most every interval; every
            # other caller (a stop, the end of the run) writes the final state.
            caller = sys._getframe(1).f_code.co_name
            distilabel_cache_writes.cache(self, after_batch=caller == "_manage_batch_flow")

        def _load_batch_manager(self, use_cache: bool = True) -> None:
            super()._load_batch_manager(use_cache)
            if self._batch_manager is not None:
                distilabel_batch_manager.install(self._batch_manager)

    caller = sys._getframe(1).f_globals["__name__"]
    Fixed.__name__ = Fixed.__qualname__ = name
    Fixed.__module__ = caller  # where pickle finds it: the caller binds it to `name`
    Fixed.__doc__ = doc
    return Fixed


def has_loop_fixes(pipeline: Any) -> bool:
    """Whether `pipeline` is one of ours (its class made by `with_loop_fixes`)."""
    return bool(getattr(type(pipeline), "_selfinstruct_loop_fixes", False))


class SelfInstructPipeline(
    with_loop_fixes(
        Pipeline,
        "_LocalPipelineWithLoopFixes",
        "distilabel's local `Pipeline` with our fixes (the base of `SelfInstructPipeline`).",
    )
):
    """distilabel's local `Pipeline` for pipelines with our steps: the same API and
    behaviour, plus the fixes of `compat` (docs/upstream.md). Use it like `Pipeline`; a
    plain `Pipeline` that one of our steps joins becomes one (`adopt`)."""

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        # Saved as distilabel's `Pipeline` (as `RayPipeline` does): a shared YAML names no
        # pipeline class of ours, and our steps make it one of ours again where it is loaded.
        dump = super().dump(**kwargs)
        dump["pipeline"][TYPE_INFO_KEY] = {"module": Pipeline.__module__, "name": Pipeline.__name__}
        return dump


_warned_classes: set[type] = set()


def adopt(pipeline: Any) -> Any:
    """Makes `pipeline` (the one a step of ours joined) one of our pipelines: a plain
    `Pipeline` becomes a `SelfInstructPipeline`, a `RayPipeline` the Ray one; a pipeline
    that already has the fixes stays as it is. Another pipeline class keeps distilabel's
    behaviour, with one warning naming what may then hang. Returns the pipeline."""
    if pipeline is None or has_loop_fixes(pipeline):
        return pipeline
    cls = type(pipeline)
    if cls is Pipeline:
        pipeline.__class__ = SelfInstructPipeline
        return pipeline
    if cls.__name__ == "RayPipeline" and cls.__module__ == "distilabel.pipeline.ray":
        from distilabel_selfinstruct.compat.distilabel_ray import LoopRayPipeline

        pipeline.__class__ = LoopRayPipeline
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
