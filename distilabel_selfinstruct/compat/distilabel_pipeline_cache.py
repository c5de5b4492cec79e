"""distilabel 1.5.3 cannot start a pipeline whose cached `pipeline.yaml` was cut short; this
sets such a file aside instead.

The bug: distilabel rewrites `<cache>/<name>/<signature>/executions/<id>/pipeline.yaml`
after every batch, in place (not written beside and renamed), and
`BasePipeline._refresh_pipeline_from_cache` (private, `distilabel/pipeline/base.py`) loads
it back at the start of every `run()`, even with `use_cache=False`
(`distilabel pipeline run --ignore-cache`). A process killed during that write leaves a
file of 0, 8187, 16375... bytes, and every later run of the same pipeline fails in about
3 s with `KeyError: 'type_info'` or `TypeError: 'NoneType' object is not subscriptable`;
the user's only way out is deleting a file they do not know about.

The fix, `refresh_pipeline_from_cache`, loads the cached file first; if it does not load
(or its DAG does not validate), it renames it to `pipeline.yaml.damaged-<time>` with one
warning (on stderr: distilabel's log is not set up yet at that point), and
then calls distilabel's own method (which, the file gone, keeps the pipeline as built). A
file that loads is used exactly as before. (`selfinstruct generate` / `run` do not need
this: their runner empties the cache at every start. It is for distilabel's own CLI.)

Where it applies: only in pipelines that contain our steps (`compat.pipeline.with_loop_fixes`
calls `set_aside_damaged` before distilabel's own method), with the guard of
`distilabel_batch_manager`: distilabel in `DISTILABEL_RANGE` and the original method's source
hashing to `ORIGINAL_SHA256`, else not used and one `RuntimeWarning`;
`$SELFINSTRUCT_DISABLE_COMPAT=distilabel_pipeline_cache` turns it off.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from distilabel_selfinstruct.compat._guard import (
    APPLIED,
    DISABLED,
    ScopedFix,
    source_sha256,
)

__all__ = ["APPLIED", "DISABLED", "FIX", "original", "set_aside_damaged", "source_sha256"]

NAME = "distilabel_pipeline_cache"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))
# sha256 of `inspect.getsource(BasePipeline._refresh_pipeline_from_cache)`, 1.5.3.
ORIGINAL_SHA256 = "0178ca054f0426b7a94ab97982c74afffa08282a84d5df7e1ffd1ac18e49be38"


def set_aside_damaged(pipeline: Any) -> None:
    """Renames the pipeline's cached `pipeline.yaml` aside, with one warning, when it does
    not load (what distilabel's `_refresh_pipeline_from_cache` would fail on)."""
    path = pipeline._cache_location["pipeline"]
    if not path.exists():
        return
    try:
        # A file cut between two connections still loads, with a DAG that cannot run.
        type(pipeline).from_yaml(path).dag.validate()
    except Exception as error:  # noqa: BLE001 - whatever is wrong, the file is unusable
        aside = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
        os.replace(path, aside)
        detail = f"{type(error).__name__}: {error}".splitlines()[0]
        pipeline._logger.warning(
            f"distilabel's cached {path} is damaged ({detail}); set aside as {aside.name},"
            " the run goes on without it"
        )


def _owner() -> type:
    from distilabel.pipeline.base import BasePipeline

    return BasePipeline


FIX = ScopedFix(
    name=NAME,
    library="distilabel",
    owner=_owner,
    attribute="_refresh_pipeline_from_cache",
    checked=DISTILABEL_RANGE,
    original_sha256=ORIGINAL_SHA256,
    fix="the damaged-cache fix",
    risk=(
        "a pipeline whose cached pipeline.yaml was cut short by a kill cannot start again"
        " until it is deleted"
    ),
)


def original() -> Callable[[Any], None]:
    """distilabel's own method."""
    return FIX.original()
