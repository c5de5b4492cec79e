"""What every step that drops rows shares: reason codes and drop accounting.

A filter scores each row, decides from the score, and drops the row with a reason code (or,
with `keep_rejected`, keeps it marked). Drops are counted per reason in the step, logged per
batch and at the end, and written to the run's pool store when the step has the run's
`BootstrapRun`, so the run summary can report them and every drop stays explainable.
`drop_record` is the one format of a drop in that log; the LLM tasks use it too, for a row
whose request failed (`llm_failures.failed_request_drop`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, ClassVar, Optional

from distilabel.steps import Step
from pydantic import PrivateAttr

from distilabel_selfinstruct.bootstrap.run import BootstrapRun, require_run
from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.loop_pipeline import JoinsLoopPipeline
from distilabel_selfinstruct.pool import PoolStore

# The column that marks a task a killed run had admitted but not finished, put back into the
# stream by `SplitInstructions`: it re-enters after admission, so no candidate filter looks
# at it again (its heuristics may differ on the rerun) and `AdmitToPool` passes it on.
RESUMED = "resumed"


def is_resumed(row: dict[str, Any]) -> bool:
    """Whether `row` is a task the pool already admitted (see `RESUMED`)."""
    return bool(row.get(RESUMED))


def drop_record(
    candidate_id: Optional[str],
    stage: Stage,
    reason: Reason,
    *,
    text: Optional[str] = None,
    score: Optional[float] = None,
    row: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """One entry of the pool store's drop log (`PoolStore.record_drops`): the one format of
    every drop, whether a filter or an LLM task drops the row."""
    return {
        # Keyed by content when the row has no id, so such drops don't collapse.
        "candidate_id": candidate_id
        or "text:" + hashlib.sha1(f"{text}\x1f{row}".encode()).hexdigest()[:20],
        "stage": str(stage),
        "reason": str(reason),
        "score": score,
        "text": text,
        "bootstrap_round": (row or {}).get("bootstrap_round"),
    }


class DropRecorder(JoinsLoopPipeline, Step):
    """Base of the steps that drop rows: counts per reason, and the pool store's drop log.

    Loop steps (`needs_run = True`) fail at load without `run`; for the others the run is
    optional and only decides whether drops reach a pool store.
    """

    run: Optional[BootstrapRun] = None
    stage: ClassVar[Stage]
    needs_run: ClassVar[bool] = False

    _drop_counts: Counter = PrivateAttr(default_factory=Counter)
    _pending_drops: list = PrivateAttr(default_factory=list)
    _store: Optional[PoolStore] = PrivateAttr(default=None)

    def load(self) -> None:
        super().load()
        if self.needs_run:
            require_run(self)

    @property
    def store(self) -> Optional[PoolStore]:
        """The run's pool store (opened on first use), `None` without a run."""
        if self._store is None and self.run is not None:
            self._store = self.run.open_store()
        return self._store

    @property
    def drop_counts(self) -> Counter:
        """Drops per reason code seen by this step instance."""
        return self._drop_counts

    def drop(
        self,
        candidate_id: Optional[str],
        reason: Reason,
        *,
        text: Optional[str] = None,
        score: Optional[float] = None,
        row: Optional[dict[str, Any]] = None,
        stage: Optional[Stage] = None,
    ) -> None:
        self._drop_counts[str(reason)] += 1
        self._pending_drops.append(
            drop_record(candidate_id, stage or self.stage, reason, text=text, score=score, row=row)
        )

    def flush_drops(self) -> None:
        """Logs this batch's drops and writes them to the pool store."""
        if not self._pending_drops:
            return
        batch = Counter(drop["reason"] for drop in self._pending_drops)
        summary = ", ".join(f"{reason}={count}" for reason, count in sorted(batch.items()))
        # Debug, not info: one line per batch is thousands a minute against a fast server.
        self._logger.debug(f"Dropped {sum(batch.values())} rows ({summary})")
        if self.store is not None:
            self.store.record_drops(self._pending_drops)
        self._pending_drops = []

    def unload(self) -> None:
        if self._drop_counts:
            logger = getattr(self, "_logger", None)
            if logger is not None:
                total = ", ".join(f"{r}={n}" for r, n in self._drop_counts.most_common())
                logger.info(f"Drops in '{getattr(self, 'name', self.stage)}': {total}")
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()
