"""Our distilabel fixes as overrides in a subclass of a distilabel pipeline class.

Importing this package changes nothing in distilabel. The four distilabel 1.5.3 bugs the
Self-Instruct loop cannot avoid (`distilabel_batch_manager`, `distilabel_pipeline_cache`,
`distilabel_cache_writes`, `distilabel_log_queue`; docs/upstream.md has each bug, a reproduction with plain
distilabel and the patch we would send) are fixed by overriding the private methods in
subclasses of distilabel's pipeline classes (`with_loop_fixes`), not by replacing them on
distilabel's classes. `distilabel_selfinstruct.loop_pipeline` builds our pipelines on it
(`SelfInstructPipeline` and the Ray ones) and makes a pipeline one of them when one of our
steps joins it. Each fix still keeps its version and source guard: outside the distilabel
it was checked on, the override calls distilabel's own method and warns once.
"""

from __future__ import annotations

import sys
from typing import Any

from distilabel_selfinstruct.compat import (
    distilabel_batch_manager,
    distilabel_cache_writes,
    distilabel_log_queue,
    distilabel_pipeline_cache,
)

__all__ = ["has_loop_fixes", "with_loop_fixes"]


def with_loop_fixes(base: type, name: str, doc: str) -> type:
    """`base` (a distilabel pipeline class) with our fixes, as a class named `name` of the
    caller's module (which must bind it to that name, for pickle). A direct subclass with no
    instance layout of its own, so that a `base` object can become one by assigning its
    class (`loop_pipeline.adopt`; a mixin base would change the layout CPython compares)."""

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

        def use_cache_dir(self, path: Any) -> None:
            """Puts distilabel's cache of this pipeline under `path` (distilabel keeps the
            directory in the private `_cache_dir`; its constructor is the only public way
            to set it, and a pipeline loaded from YAML gets the default)."""
            from pathlib import Path

            self._cache_dir = Path(path)

        @property
        def _log_queue(self) -> Any:
            return self.__dict__.get("_log_queue")

        @_log_queue.setter
        def _log_queue(self, value: Any) -> None:
            # distilabel assigns its log queue in `run` (and `None` in `__init__`); kept in
            # the instance's dict under the same name, so an adopted pipeline keeps its own.
            self.__dict__["_log_queue"] = distilabel_log_queue.log_queue_for(value)

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
