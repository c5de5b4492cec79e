"""A fix for distilabel 1.5's batch manager, needed by any pipeline with filter steps.

distilabel 1.5.3 never forwards a *last* batch that arrives empty: `_BatchManagerStep.
_ready_to_create_batch_normal` returns `False` when a predecessor's last batch was received
and holds no rows, so the successor never gets its last batch and `Pipeline.run` waits
forever. Filters make this common: it happens whenever every row of a filter's final batch
is dropped (e.g. the last round's candidates are all too similar to the pool).

The replacement below differs in one condition: an empty last batch that is still buffered
(not yet consumed) does produce a batch, empty and flagged last, which lets the end of the
data flow through. Everything else is the original logic. It is applied when this package
is imported, which also happens when distilabel loads a pipeline YAML naming our steps.
"""

from typing import Any

_PATCHED_FLAG = "_selfinstruct_empty_last_batch_fix"


def _ready_to_create_batch_normal(self: Any) -> bool:
    for step_name, batches in self.data.items():
        next_expected_seq_no = self.next_expected_seq_no[step_name][0]
        num_rows = 0
        is_batch_in_order = True
        for batch in batches:
            if batch.seq_no != next_expected_seq_no:
                is_batch_in_order = False
                break
            num_rows += len(batch.data[0])
            if self.input_batch_size and num_rows >= self.input_batch_size:
                break
            next_expected_seq_no += 1

        # Original: `num_rows == 0 and last batch received` -> no batch, even when the
        # empty last batch itself was never passed on. Only a drained buffer means done.
        if num_rows == 0 and step_name in self.last_batch_received and not batches:
            return False

        if (
            self.input_batch_size
            and num_rows < self.input_batch_size
            and not (step_name in self.last_batch_received and is_batch_in_order)
        ):
            return False

    return True


def apply() -> None:
    """Installs the fix once (idempotent); a no-op on distilabel versions without the bug."""
    try:
        from distilabel.pipeline.batch_manager import _BatchManagerStep
    except ImportError:  # pragma: no cover - distilabel moved the class
        return
    if getattr(_BatchManagerStep, _PATCHED_FLAG, False):
        return
    if not hasattr(_BatchManagerStep, "_ready_to_create_batch_normal"):
        return  # pragma: no cover
    _BatchManagerStep._ready_to_create_batch_normal = _ready_to_create_batch_normal
    setattr(_BatchManagerStep, _PATCHED_FLAG, True)
