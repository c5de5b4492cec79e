"""Stage 5: admission to the pool — the loop's single writer of accepted tasks.

`RougeLFilter` scores candidates against the pool as it was when their batch started;
this step admits them one at a time: a replayed candidate (a batch re-run after a crash)
keeps its earlier acceptance, a new one is checked against what was admitted since it was
scored (so novelty holds against the whole pool however the steps overlap), then against
the run's stop rule (is enough already on its way?), then written.
"""

import bisect
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Optional

import numpy as np
from distilabel.steps import StepInput
from pydantic import PrivateAttr

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import DropRecorder, is_resumed
from distilabel_selfinstruct.filters.embedding_index import EmbeddingIndex
from distilabel_selfinstruct.filters.rouge_index import RougeLIndex
from distilabel_selfinstruct.pool import task_id_for

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


class AdmitToPool(DropRecorder):
    """Adds novel candidates to the run's pool store while the run still needs them.

    Per row, in order: a candidate the store already accepted passes unchanged (a replay);
    a candidate too similar (ROUGE-L above the run's threshold) to a task admitted after it
    was scored is dropped as `rouge_l_too_similar`; with `SemanticDedup` before it, one
    whose embedding cosine to such a task is above the run's `semantic_threshold` is
    dropped as `semantic_too_similar` (from the vectors that step stored), and one that
    step did not score (its batch failed) as `semantic_unscored`; while the stop rule says the target is
    met or enough tasks are in flight, it is dropped as `target_reached` /
    `enough_in_flight`, so the LLM stages after it are not spent on tasks the run cannot
    use; a candidate whose exact text another candidate holds is dropped as
    `duplicate_instruction`; the rest join the pool.

    Attributes:
        run: the run's `BootstrapRun` (pool store, stop rule, ROUGE-L settings); required.

    Input columns:
        - instruction (`str`): the candidate.
        - candidate_id (`str`): identifies it across replays.
        - rouge_l_max (`float`): its score against the pool it was scored on.
        - most_similar_task_id (`str`): the pool task with that score.
        - rouge_l_pool_seq (`int`): the newest pool entry that score covers.
        - semantic_max, semantic_pool_seq, semantic_model (optional): `SemanticDedup`'s
            score, the newest pool entry it covers and the embeddings model.

    Output columns:
        - task_id (`str`): the pool's id of the admitted task.
        - rouge_l_max (`float`): the max ROUGE-L F-measure to the whole pool.
        - most_similar_task_id (`str`): the pool task with that score.
        - most_similar_instruction (`str`): its text.
        - semantic_max, semantic_most_similar_task_id, semantic_most_similar_instruction:
            updated like the ROUGE-L ones when a task admitted after scoring is closer.

    Categories:
        - filtering
    """

    stage: ClassVar[Stage] = Stage.ADMISSION
    needs_run: ClassVar[bool] = True

    # The whole pool, read incrementally: with many requests in flight a candidate may
    # arrive after hundreds of admissions, and indexing those anew per row cost more than
    # anything else in the run.
    _index: Optional[RougeLIndex] = PrivateAttr(default=None)
    _indexed: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _indexed_seq: int = PrivateAttr(default=0)
    _semantic: dict[str, "_PoolVectors"] = PrivateAttr(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "candidate_id", "rouge_l_max", "rouge_l_pool_seq"]

    @property
    def outputs(self) -> list[str]:
        return ["task_id", "rouge_l_max", "most_similar_task_id", "most_similar_instruction"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        store, run = self.store, self.run
        assert store is not None and run is not None
        rule = run.stop_rule(batch_size=1)
        # The loop's state once per batch, plus this batch's own admissions: reading it per
        # row cost O(pool) each (a few counts) and capped the single writer at ~95
        # candidates/s at 50K tasks (docs/scale-out.md). Finishes and losses elsewhere
        # during the batch only lower the true in-flight count, so the gate errs on the
        # side of refusing; the commit's cap keeps the target exact either way.
        state = store.state()
        admitted: list[dict[str, Any]] = []
        for row in inputs:
            candidate_id, text = row.get("candidate_id"), row.get("instruction") or ""
            if not candidate_id:
                raise ValueError(f"step '{self.name}': a row without candidate_id: {text!r}")
            if is_resumed(row) or store.accepted_candidate(candidate_id) is not None:
                admitted.append(row)  # admitted already (a resumed task or a replayed batch)
                continue
            if row.get("rouge_l_pool_seq") is None:
                # Scored without the pool store: novelty against the pool is unknown.
                raise ValueError(
                    f"step '{self.name}': rows arrive without rouge_l_pool_seq; give the"
                    " RougeLFilter before it the same `run`"
                )
            row = self._rescored(row, int(row["rouge_l_pool_seq"]))
            if row["rouge_l_max"] > run.rouge_threshold:
                self.drop(
                    candidate_id,
                    Reason.ROUGE_L_TOO_SIMILAR,
                    text=text,
                    score=row["rouge_l_max"],
                    row=row,
                    stage=Stage.ROUGE_L,
                )
                continue
            row, refusal = self._semantic_checked(row)
            if refusal is not None:
                self.drop(
                    candidate_id,
                    refusal,
                    text=text,
                    score=row.get("semantic_max"),
                    row=row,
                    stage=Stage.SEMANTIC,
                )
                continue
            refusal = rule.admission(state)
            if refusal is not None:
                self.drop(candidate_id, refusal, text=text, score=row["rouge_l_max"], row=row)
                continue
            task_id = store.accept(
                candidate_id=candidate_id,
                instruction=text,
                bootstrap_round=row.get("bootstrap_round"),
                rouge_l_max=row["rouge_l_max"],
                most_similar_task_id=row.get("most_similar_task_id"),
                topic=row.get("topic"),
                instruction_model=row.get("instruction_model"),
            )
            if task_id is None:
                # Same text as a pool task: only reachable with a threshold of 1.0.
                self.drop(candidate_id, Reason.DUPLICATE_INSTRUCTION, text=text, score=1.0, row=row)
                continue
            state = replace(state, accepted=state.accepted + 1)
            admitted.append({**row, "task_id": task_id})
        self.flush_drops()
        yield admitted

    def _rescored(self, row: dict[str, Any], scored_through: int) -> dict[str, Any]:
        """The row scored against the pool entries admitted after `scored_through` too."""
        assert self.store is not None and self.run is not None
        if self._index is None:
            self._index = RougeLIndex(tokenizer=self.run.rouge_tokenizer)
        newer = self.store.tasks(after_seq=self._indexed_seq)
        if newer:
            self._index.add([task["instruction"] for task in newer])
            self._indexed.extend(newer)
            self._indexed_seq = newer[-1]["seq"]
        if self._indexed_seq <= scored_through:
            return row
        # The max over the whole pool exceeds the row's score (its max over the entries
        # through `scored_through`) only where a newer entry does, and then its first
        # argmax is that newer entry: the same result as scoring the newer ones alone.
        match = self._index.best_match(row.get("instruction") or "")
        if match.score <= (row.get("rouge_l_max") or 0.0):
            return row
        similar = self._indexed[match.index]
        return {
            **row,
            "rouge_l_max": match.score,
            "most_similar_task_id": similar["task_id"],
            "most_similar_instruction": similar["instruction"],
        }

    def _semantic_checked(self, row: dict[str, Any]) -> tuple[dict[str, Any], Optional[Reason]]:
        """The row rescored over the tasks admitted since `SemanticDedup` scored it, and why
        it may not join the pool (`None`: it may, also in a pipeline without the filter)."""
        assert self.run is not None
        if row.get("semantic_reason"):
            return row, Reason.SEMANTIC_TOO_SIMILAR  # kept by SemanticDedup(keep_rejected=True)
        if "semantic_model" not in row:
            return row, None
        if not row["semantic_model"]:
            # Its batch failed in SemanticDedup, and distilabel passed the rows on with the
            # step's columns empty: never admit it unchecked.
            return row, Reason.SEMANTIC_UNSCORED
        if row.get("semantic_pool_seq") is None:
            return row, None  # scored without the pool store (a standalone filter)
        row = self._semantic_rescored(row)
        too_similar = row["semantic_max"] > self.run.semantic_threshold
        return row, Reason.SEMANTIC_TOO_SIMILAR if too_similar else None

    def _semantic_rescored(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's semantic score over the tasks admitted after it was scored too."""
        assert self.store is not None
        model = row["semantic_model"]
        cache = self._semantic.setdefault(model, _PoolVectors())
        # The pool's vectors, read incrementally (as for ROUGE-L): with many requests in
        # flight a row may arrive after hundreds of admissions.
        newer = self.store.tasks(after_seq=cache.read_through)
        if newer:
            stored = self.store.embeddings(model, [task["task_id"] for task in newer])
            # A task admitted by an invocation without the semantic filter has no vector;
            # SemanticDedup embeds it on its first refresh, before it scores any row, so it
            # is never newer than a row's `semantic_pool_seq`.
            kept = [task for task in newer if task["task_id"] in stored]
            if kept:
                cache.index.add(
                    np.stack([np.frombuffer(stored[t["task_id"]], dtype=np.float32) for t in kept])
                )
                cache.seqs.extend(task["seq"] for task in kept)
                cache.tasks.extend(kept)
            cache.read_through = newer[-1]["seq"]
        first = bisect.bisect_right(cache.seqs, int(row["semantic_pool_seq"]))
        if first == len(cache.seqs):
            return row
        own_id = task_id_for(row.get("instruction") or "")
        own = self.store.embeddings(model, [own_id]).get(own_id)
        if own is None:
            raise ValueError(
                f"step '{self.name}': no stored embedding for candidate"
                f" {row.get('candidate_id')!r}; give the SemanticDedup before it the same `run`"
            )
        scores = cache.index.vectors[first:] @ np.frombuffer(own, dtype=np.float32)
        best = int(np.argmax(scores))
        if float(scores[best]) <= (row.get("semantic_max") or 0.0):
            return row
        similar = cache.tasks[first + best]
        return {
            **row,
            "semantic_max": float(scores[best]),
            "semantic_most_similar_task_id": similar["task_id"],
            "semantic_most_similar_instruction": similar["instruction"],
        }


@dataclass
class _PoolVectors:
    """One embeddings model's vectors of the pool's tasks, in pool order."""

    index: EmbeddingIndex = field(default_factory=EmbeddingIndex)
    seqs: list[int] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    read_through: int = 0
