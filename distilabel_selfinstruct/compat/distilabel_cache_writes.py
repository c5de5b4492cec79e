"""distilabel 1.5.3 serializes the whole pipeline several times per batch; this does it once
per run.

The cost: after every batch, `BasePipeline._manage_batch_flow` calls the private
`BasePipeline._cache`, which reads the property `_cache_location` four times and
`_register_batch` reads it once more. Each read computes the pipeline's signature and the
aggregated step signature, that is, dumps every step (with its runtime-parameter info,
which calls `inspect.signature` on the LLM's `generate`). `_cache` then dumps the pipeline
again and rewrites `pipeline.yaml`, which does not change during a run. Profiled on a
Self-Instruct run against an HTTP server (py-spy, 60 s), this was 64 % of all the CPU the
pipeline used: ~20 ms per batch in the main process, ~250 ms per LLM request.

The fix changes no output:

* `cache_location`: the same dictionary, computed once per batch manager (that is, once
  per `run()`: the steps and so the signature are fixed by then) and reused; before the run
  has a batch manager it is computed on every read, as before;
* `cache`: writes `pipeline.yaml` once per batch manager (its content cannot change during
  the run). The batch manager (one JSON file per step and one more) and the stages file
  are written as before on every call but those after a batch (`_manage_batch_flow`), which
  write them at most every `BATCH_CACHE_INTERVAL_S`: the end of a run, a stop and the
  pipeline's own calls still write the final state. distilabel's cache is for resuming a
  killed run, and it was never exact there (a batch in flight is redone); a kill now may
  redo up to that interval's batches. (The Self-Instruct loop does not resume from it at
  all: its state is the pool store.)

Where it applies: only in pipelines that contain our steps (`compat.pipeline.with_loop_fixes`
overrides the two), with the guard of the other fixes: distilabel in `DISTILABEL_RANGE` and
each original's source hashing to the 1.5.3 code, else not used and one `RuntimeWarning`;
`$SELFINSTRUCT_DISABLE_COMPAT=distilabel_cache_writes` turns it off (distilabel then
spends the CPU, nothing else changes).
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Callable

from distilabel_selfinstruct.compat._guard import APPLIED, DISABLED, ScopedFix

__all__ = ["APPLIED", "CACHE", "DISABLED", "LOCATION", "active", "cache", "cache_location"]

NAME = "distilabel_cache_writes"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))
# sha256 of `inspect.getsource` of the originals, distilabel 1.5.3.
CACHE_LOCATION_SHA256 = "dc47de218af84ec7d4c2b8fc91193a8393b6edf0977ed25fcd83c36f6b391634"
CACHE_SHA256 = "94eb4b505ae833ed95e68a76d796385cf063473dcee2f13568c1bfc61f46460e"

# After a batch, the batch manager is written at most this often.
BATCH_CACHE_INTERVAL_S = 2.0

# pipeline -> [the batch manager the values belong to, location, pipeline.yaml written,
# when the batch manager was last written]
_memo: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def _memo_of(pipeline: Any) -> list[Any] | None:
    manager = getattr(pipeline, "_batch_manager", None)
    if manager is None:
        return None
    memo = _memo.get(pipeline)
    if memo is None or memo[0] is not manager:
        memo = [manager, None, False, 0.0]
        _memo[pipeline] = memo
    return memo


def cache_location(pipeline: Any, compute: Callable[[], Any]) -> Any:
    """distilabel's `_cache_location` (`compute()`), computed once per batch manager."""
    memo = _memo_of(pipeline)
    if memo is None:
        return compute()
    if memo[1] is None:
        memo[1] = compute()
    return memo[1]


def cache(pipeline: Any, *, after_batch: bool) -> None:
    """distilabel 1.5.3's `BasePipeline._cache`, writing `pipeline.yaml` once per run and,
    `after_batch` (called from `_manage_batch_flow`), the batch manager at most every
    `BATCH_CACHE_INTERVAL_S`."""
    if pipeline._dry_run:
        return
    location = pipeline._cache_location
    memo = _memo_of(pipeline)
    if memo is None or not memo[2]:
        pipeline.save(
            path=location["pipeline"], format=location["pipeline"].suffix.replace(".", "")
        )
        if memo is not None:
            memo[2] = True
    if memo is not None and after_batch:
        now = time.monotonic()
        if now - memo[3] < BATCH_CACHE_INTERVAL_S:
            return
        memo[3] = now
    if pipeline._batch_manager is not None:
        pipeline._batch_manager.cache(
            path=location["batch_manager"], steps_data_path=location["steps_data"]
        )
    pipeline._save_stages_status()
    pipeline._logger.debug("Pipeline and batch manager saved to cache.")


def _owner() -> type:
    from distilabel.pipeline.base import BasePipeline

    return BasePipeline


LOCATION = ScopedFix(
    name=NAME,
    library="distilabel",
    owner=_owner,
    attribute="_cache_location",
    checked=DISTILABEL_RANGE,
    original_sha256=CACHE_LOCATION_SHA256,
    fix="the once-per-run cache location",
    risk="every batch costs a full dump of the pipeline (~20 ms of CPU)",
)
CACHE = ScopedFix(
    name=NAME,
    library="distilabel",
    owner=_owner,
    attribute="_cache",
    checked=DISTILABEL_RANGE,
    original_sha256=CACHE_SHA256,
    fix="the once-per-run pipeline.yaml",
    risk="every batch rewrites pipeline.yaml (a full dump of the pipeline)",
)


def active() -> bool:
    """Whether both halves fit (see the module docstring); decided once per process."""
    return LOCATION.active() and CACHE.active()
