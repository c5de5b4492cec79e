"""distilabel 1.5.3 never forwards a *last* batch that arrives empty; this fixes it.

The bug: `_BatchManagerStep._ready_to_create_batch_normal` (private, in
`distilabel/pipeline/batch_manager.py`) answers `False` whenever a predecessor's last batch
was received and the buffered rows add up to none, including when that empty last batch is
still in the buffer, never passed on. The successor then never gets its last batch and
`Pipeline.run` waits forever. Filters make this common: it happens whenever every row of a
filter's final batch is dropped (e.g. the last round's candidates are all too similar to the
pool). When this was written, 1.5.3 was distilabel's newest release and its development
branch still had the same code.

The fix, `ready_to_create_batch_normal`, differs from the original in one condition: an
empty last batch that is still buffered does produce a batch, empty and flagged last, which
lets the end of the data flow through.

It adds one rule: **an empty batch flushes.** A batch that arrives empty (a filter dropped
all its rows, or a generator's heartbeat) and is next in order makes a batch of whatever is
buffered before it, fewer than `input_batch_size` rows or none, instead of being absorbed.
Without it a row waits in a half-full batch until more rows come, and a step that holds
requests in flight (`llm_task.LLMTask`) is never called to hand back the
ones that completed while its input is quiet: the Self-Instruct generator, waiting for the
tasks in flight, would wait for ever. With it the generator's empty heartbeat batches travel
down the pipeline and flush every buffer on the way. A step therefore may receive an empty
batch (it already did as the last batch, above); distilabel's own tasks handle one.
Everything else is the original logic.

Where it applies: only in pipelines that contain our steps. Those pipelines are
`loop_pipeline.SelfInstructPipeline` (a step of ours adopts the `Pipeline` it joins), whose
`_load_batch_manager` makes each of its batch manager's steps a `FlushingBatchManagerStep`
(`install`). distilabel's `_BatchManagerStep` class is never modified, so pipelines without
our steps keep distilabel's behaviour. Once per process it decides (`FIX.decide()`):

* `$SELFINSTRUCT_DISABLE_COMPAT` names `distilabel_batch_manager`: not used (to show the hang
  in tests);
* distilabel is outside `DISTILABEL_RANGE`, or the original method's source
  (`inspect.getsource`) does not hash to `ORIGINAL_SHA256` (the 1.5.3 code the fix was
  written against), or the class or method is gone: not used, and one `RuntimeWarning`
  saying why;
* otherwise: used by every pipeline of ours in the process.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from distilabel.pipeline.batch_manager import _BatchManagerStep

from distilabel_selfinstruct.compat._guard import (
    APPLIED,
    DISABLED,
    ScopedFix,
    source_sha256,
)

__all__ = [
    "APPLIED",
    "DISABLED",
    "FIX",
    "FlushingBatchManagerStep",
    "install",
    "original",
    "ready_to_create_batch_normal",
    "source_sha256",
    "why_not_applicable",
]

NAME = "distilabel_batch_manager"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))
# sha256 of `inspect.getsource(_BatchManagerStep._ready_to_create_batch_normal)`, 1.5.3.
ORIGINAL_SHA256 = "1512a3602138bdebb27c959637e21bd44e2b2025f5adffc0e7f593c8b0544c2b"


def ready_to_create_batch_normal(self: Any) -> bool:
    """distilabel 1.5.3's `_BatchManagerStep._ready_to_create_batch_normal`, fixed."""
    for step_name, batches in self.data.items():
        next_expected_seq_no = self.next_expected_seq_no[step_name][0]
        num_rows = 0
        is_batch_in_order = True
        flush = False
        for batch in batches:
            if batch.seq_no != next_expected_seq_no:
                is_batch_in_order = False
                break
            num_rows += len(batch.data[0])
            if self.input_batch_size and num_rows >= self.input_batch_size:
                break
            # Added: an empty batch in order passes on what is buffered before it.
            if not batch.data[0]:
                flush = True
                break
            next_expected_seq_no += 1

        # Original: `num_rows == 0 and last batch received` -> no batch, even when the
        # empty last batch itself was never passed on. Only a drained buffer means done.
        if num_rows == 0 and step_name in self.last_batch_received and not batches:
            return False

        if (
            self.input_batch_size
            and num_rows < self.input_batch_size
            and not flush
            and not (step_name in self.last_batch_received and is_batch_in_order)
        ):
            return False

    return True


def _owner() -> type:
    return _BatchManagerStep


FIX = ScopedFix(
    name=NAME,
    library="distilabel",
    owner=_owner,
    attribute="_ready_to_create_batch_normal",
    checked=DISTILABEL_RANGE,
    original_sha256=ORIGINAL_SHA256,
    fix="the empty-last-batch fix",
    risk="a pipeline whose filter drops every row of its last batch may hang",
)


class FlushingBatchManagerStep(_BatchManagerStep):
    """distilabel's `_BatchManagerStep` whose empty batches flush (see the module)."""

    _ready_to_create_batch_normal = ready_to_create_batch_normal


def install(batch_manager: Any) -> bool:
    """Gives the steps of one pipeline's `_BatchManager` the fixed readiness check, if the
    fix fits (see the module docstring); returns whether it did. Only those objects change:
    distilabel's class, and every other pipeline's batch manager, stay as they were."""
    if not FIX.active():
        return False
    for step in batch_manager._steps.values():
        if type(step) is _BatchManagerStep:
            step.__class__ = FlushingBatchManagerStep
    return True


def why_not_applicable(version: str, original_sha256: Optional[str]) -> Optional[str]:
    """Why the fix must not be used on this distilabel, or `None` if it fits."""
    return FIX.why_not_applicable(version, original_sha256)


def original() -> Callable[[Any], bool]:
    """distilabel's own method."""
    return FIX.original()
