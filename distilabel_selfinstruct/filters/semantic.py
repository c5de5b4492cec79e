"""Stage 4b (optional): semantic near-duplicates, by embedding cosine against the pool.

ROUGE-L only sees shared words: "Summarize this article in one sentence." and "Give a
one-line summary of the text." pass its 0.7 threshold although they are the same task. This
step embeds each candidate with any distilabel `Embeddings` and rejects it when its cosine
similarity to a pool task (seeds and everything accepted) is above a threshold. Like
`RougeLFilter` it only scores and decides: `AdmitToPool` checks a candidate against what
was admitted after it was scored, from the vectors this step stores in the pool store.
"""

from typing import TYPE_CHECKING, Any, ClassVar, Optional

import numpy as np
from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.models.embeddings.base import Embeddings
from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import DropRecorder, is_resumed
from distilabel_selfinstruct.filters.embedding_index import EmbeddingIndex, normalized
from distilabel_selfinstruct.pool import PoolStore, task_id_for
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import StepOutput

# Calibrated on tests/filters/data/paraphrase_pairs.jsonl (docs/quality.md).
DEFAULT_SEMANTIC_THRESHOLD = 0.75


def pool_vectors(
    store: PoolStore, embeddings: Embeddings, tasks: list[dict[str, Any]]
) -> np.ndarray:
    """Unit vectors of pool tasks: read from the store, the missing ones embedded and stored
    (seeds on a run's first batch, tasks a run without this filter admitted)."""
    if not tasks:
        return np.empty((0, 0), dtype=np.float32)
    model = embeddings.model_name
    stored = store.embeddings(model, [task["task_id"] for task in tasks])
    missing = [task for task in tasks if task["task_id"] not in stored]
    if missing:
        fresh = normalized(embeddings.encode([task["instruction"] for task in missing]))
        new = {
            task["task_id"]: vector.tobytes() for task, vector in zip(missing, fresh, strict=True)
        }
        store.put_embeddings(model, new)
        stored.update(new)
    return np.stack([np.frombuffer(stored[task["task_id"]], dtype=np.float32) for task in tasks])


class SemanticDedup(DropRecorder):
    """Drops candidates whose embedding is too close (cosine) to any task in the pool.

    The score (max cosine similarity to the pool, and the most similar task) is recorded on
    every row; the decision is `score > threshold`. Nearest neighbours are exact (one
    matrix product over the pool's unit vectors, `EmbeddingIndex`).

    With `run` (the bootstrap loop) the pool is the run's pool store, re-read before each
    batch; the step stores the vectors of the pool's tasks and of the candidates it keeps in
    the store (by content id, per embeddings model), so `AdmitToPool` can check a candidate
    against the tasks admitted after it was scored, and a resumed run does not embed the
    pool again. Each kept row carries `semantic_pool_seq` for that check. A task a killed
    run admitted (marked `resumed` by `SplitInstructions`) passes unscored. Without `run`, the
    pool is `reference_path` (optional seed JSONL files) plus every row this step kept, in
    order (so a batch is checked against itself too).

    Attributes:
        embeddings: any distilabel `Embeddings` (the offline default is
            `distilabel_selfinstruct.embeddings.MiniLMEmbeddings`).
        run: the run's `BootstrapRun`: pool store and `semantic_threshold` (optional).
        instruction_column: the column holding the text to compare.

    Runtime parameters:
        - `threshold`: without `run`: reject when the max cosine similarity to the pool is
            above it. With `run`, the run's `semantic_threshold` applies.
        - `reference_path`: without `run`: seed JSONL file(s) (`bundled`: the package's own
            set) that form the pool.
        - `keep_rejected`: keep rejected rows, marked in `semantic_reason`.

    Input columns:
        - instruction (`str`): the candidate (or `instruction_column`).
        - candidate_id (`str`, optional): identifies the candidate across replays.

    Output columns:
        - semantic_max (`float`): the max cosine similarity to the pool.
        - semantic_most_similar_task_id (`str`): the pool task with that score.
        - semantic_most_similar_instruction (`str`): its text.
        - semantic_reason (`str`): `None` for kept rows.
        - semantic_pool_seq (`int`): with `run`, the newest pool entry the score covers.
        - semantic_model (`str`): the embeddings model (the key of the stored vectors).

    Categories:
        - filtering

    Examples:
        Filter instructions against the bundled seeds with the offline default model:

        ```python
        from distilabel_selfinstruct.embeddings import MiniLMEmbeddings
        from distilabel_selfinstruct.filters.semantic import SemanticDedup

        step = SemanticDedup(embeddings=MiniLMEmbeddings(), reference_path=["bundled"])
        step.load()
        kept = next(step.process([{"instruction": "Give a one-line summary of the text."}]))
        ```
    """

    stage: ClassVar[Stage] = Stage.SEMANTIC
    embeddings: Embeddings
    instruction_column: str = "instruction"
    threshold: RuntimeParameter[float] = Field(
        default=DEFAULT_SEMANTIC_THRESHOLD,
        description="Without a run: reject when max cosine similarity to the pool is above this.",
    )
    reference_path: Optional[RuntimeParameter[list[str]]] = Field(
        default=None,
        description="Without a run: seed JSONL file(s) that form the pool.",
    )
    keep_rejected: RuntimeParameter[bool] = Field(
        default=False,
        description="Keep rejected rows (marked with their reason) instead of dropping them.",
    )

    _index: EmbeddingIndex = PrivateAttr(default_factory=EmbeddingIndex)
    _pool_ids: list = PrivateAttr(default_factory=list)
    _pool_texts: list = PrivateAttr(default_factory=list)
    _known: set = PrivateAttr(default_factory=set)
    _last_seq: int = PrivateAttr(default=0)

    @property
    def inputs(self) -> list[str]:
        return [self.instruction_column]

    @property
    def outputs(self) -> list[str]:
        return [
            "semantic_max",
            "semantic_most_similar_task_id",
            "semantic_most_similar_instruction",
            "semantic_reason",
            "semantic_pool_seq",
            "semantic_model",
        ]

    @property
    def effective_threshold(self) -> float:
        return self.run.semantic_threshold if self.run is not None else self.threshold

    def load(self) -> None:
        super().load()
        self.embeddings.load()
        self._index = EmbeddingIndex()
        self._pool_ids, self._pool_texts, self._known = [], [], set()
        if self.run is None and self.reference_path:
            seeds = load_seed_tasks(seed_paths(self.reference_path))
            texts = [seed.instruction for seed in seeds]
            self._extend([seed.id for seed in seeds], texts, self.embeddings.encode(texts))
        self._logger.info(f"Semantic pool: {len(self._index)} tasks ({self.embeddings.model_name})")

    def unload(self) -> None:
        self.embeddings.unload()
        super().unload()

    def _extend(self, ids: list[str], texts: list[str], vectors: Any) -> None:
        self._index.add(vectors)
        self._pool_ids.extend(ids)
        self._pool_texts.extend(texts)
        self._known.update(ids)

    def _refresh_from_store(self) -> None:
        assert self.store is not None
        new = self.store.tasks(after_seq=self._last_seq)
        if new:
            self._last_seq = new[-1]["seq"]
        new = [task for task in new if task["task_id"] not in self._known]
        if new:
            vectors = pool_vectors(self.store, self.embeddings, new)
            self._extend([t["task_id"] for t in new], [t["instruction"] for t in new], vectors)

    def _unscored(self, row: dict[str, Any]) -> bool:
        """A resumed task (already in the pool) or a row an earlier filter kept only as
        rejected."""
        return is_resumed(row) or bool(
            row.get("instruction_filter_reason") or row.get("rouge_l_reason")
        )

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        # Drops noted by a batch that failed must not be written with the next one: distilabel
        # passed that batch's rows on, and AdmitToPool drops them as `semantic_unscored`.
        self._pending_drops = []
        if self.store is not None:
            self._refresh_from_store()
        threshold = self.effective_threshold
        model = self.embeddings.model_name
        rows = list(inputs)
        scored_rows = [row for row in rows if not self._unscored(row)]
        texts = [row.get(self.instruction_column) or "" for row in scored_rows]
        vectors = normalized(self.embeddings.encode(texts)) if texts else None
        verdicts: dict[int, dict[str, Any]] = {}
        kept_vectors: dict[str, bytes] = {}
        for position, row in enumerate(scored_rows):
            assert vectors is not None
            text = texts[position]
            match = self._index.nearest(vectors[position])
            similar = match.index >= 0
            too_similar = match.score > threshold
            verdicts[id(row)] = {
                "semantic_max": match.score if similar else 0.0,
                "semantic_most_similar_task_id": self._pool_ids[match.index] if similar else None,
                "semantic_most_similar_instruction": (
                    self._pool_texts[match.index] if similar else None
                ),
                "semantic_reason": Reason.SEMANTIC_TOO_SIMILAR.value if too_similar else None,
                "semantic_pool_seq": self._last_seq if self.store is not None else None,
                "semantic_model": model,
            }
            if too_similar:
                self.drop(
                    row.get("candidate_id"),
                    Reason.SEMANTIC_TOO_SIMILAR,
                    text=text,
                    score=match.score,
                    row=row,
                )
                continue
            if self.store is None:
                # Without a pool store this step is the pool: later rows compare to it.
                self._extend([task_id_for(text)], [text], vectors[position : position + 1])
            else:
                kept_vectors[task_id_for(text)] = vectors[position].tobytes()
        if self.store is not None:
            # Before the rows move on: AdmitToPool reads the candidates' vectors from here.
            self.store.put_embeddings(model, kept_vectors)
        outputs: list[dict[str, Any]] = []
        for row in rows:
            verdict = verdicts.get(id(row))
            if verdict is None:
                outputs.append({**row, **dict.fromkeys(self.outputs)})
            elif verdict["semantic_reason"] is None or self.keep_rejected:
                outputs.append({**row, **verdict})
        self.flush_drops()
        yield outputs
