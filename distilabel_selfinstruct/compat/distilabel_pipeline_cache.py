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

`apply()` runs when `distilabel_selfinstruct` is imported, like `distilabel_batch_manager`,
with the same guard: distilabel in `DISTILABEL_RANGE` and the original method's source
hashing to `ORIGINAL_SHA256`, else no patch and one `RuntimeWarning`;
`$SELFINSTRUCT_DISABLE_COMPAT=distilabel_pipeline_cache` turns it off.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any, Callable, Optional

from distilabel_selfinstruct.compat._guard import (
    disabled,
    format_range,
    in_range,
    source_sha256,
)

NAME = "distilabel_pipeline_cache"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))
# sha256 of `inspect.getsource(BasePipeline._refresh_pipeline_from_cache)`, 1.5.3.
ORIGINAL_SHA256 = "0178ca054f0426b7a94ab97982c74afffa08282a84d5df7e1ffd1ac18e49be38"

APPLIED = "applied"
DISABLED = "disabled"

_outcome: Optional[str] = None
_original: Optional[Callable[[Any], None]] = None


def refresh_pipeline_from_cache(self: Any) -> None:
    """distilabel's `_refresh_pipeline_from_cache`, after setting aside a cached
    `pipeline.yaml` that does not load."""
    path = self._cache_location["pipeline"]
    if path.exists():
        try:
            # A file cut between two connections still loads, with a DAG that cannot run.
            type(self).from_yaml(path).dag.validate()
        except Exception as error:  # noqa: BLE001 - whatever is wrong, the file is unusable
            aside = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
            os.replace(path, aside)
            detail = f"{type(error).__name__}: {error}".splitlines()[0]
            self._logger.warning(
                f"distilabel's cached {path} is damaged ({detail}); set aside as {aside.name},"
                " the run goes on without it"
            )
    assert _original is not None
    _original(self)


def original() -> Callable[[Any], None]:
    """distilabel's own method, whether or not the fix replaced it (for tests)."""
    from distilabel.pipeline.base import BasePipeline

    return _original or BasePipeline._refresh_pipeline_from_cache


def apply() -> str:
    """Installs the fix if it fits; returns `APPLIED`, `DISABLED` or why it was skipped."""
    global _outcome
    if _outcome is None:
        _outcome = _apply()
        if _outcome not in (APPLIED, DISABLED):
            warnings.warn(
                f"{_outcome}: not patched, so a pipeline whose cached pipeline.yaml was cut"
                f" short by a kill cannot start again until it is deleted (see {__name__})",
                RuntimeWarning,
                stacklevel=2,
            )
    return _outcome


def _apply() -> str:
    global _original
    if disabled(NAME):
        return DISABLED
    import distilabel

    version = distilabel.__version__
    try:
        from distilabel.pipeline.base import BasePipeline

        current = BasePipeline._refresh_pipeline_from_cache
    except (ImportError, AttributeError):
        return f"distilabel {version} has no `BasePipeline._refresh_pipeline_from_cache`"
    if getattr(current, "__module__", None) == __name__:
        return APPLIED
    if not in_range(version, *DISTILABEL_RANGE):
        return (
            f"distilabel {version} is outside {format_range(*DISTILABEL_RANGE)}, the versions"
            " the damaged-cache fix was checked against"
        )
    if source_sha256(current) != ORIGINAL_SHA256:
        return (
            f"distilabel {version}'s `BasePipeline._refresh_pipeline_from_cache` is not the"
            " code the damaged-cache fix was written against"
        )
    _original = current
    BasePipeline._refresh_pipeline_from_cache = refresh_pipeline_from_cache
    return APPLIED
