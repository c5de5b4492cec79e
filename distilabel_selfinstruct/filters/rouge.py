"""Stage 4: ROUGE-L novelty scoring.

A candidate is rejected when its ROUGE-L F-measure against any task in the pool (seeds plus
everything accepted so far) is above the threshold. The kernel (`RougeLIndex`) is exact
against rouge-score; this module is the distilabel step around it. It only scores and
decides: inside the bootstrap loop, `AdmitToPool` (distilabel_selfinstruct/admission.py)
writes the pool, after checking the candidate against what was admitted since it was scored.
"""

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import DropRecorder, is_resumed
from distilabel_selfinstruct.filters.rouge_index import RougeLIndex
from distilabel_selfinstruct.pool import task_id_for
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


class RougeLFilter(DropRecorder):
    """Drops candidates too similar (ROUGE-L) to any task in the pool.

    The score (max ROUGE-L F-measure to the pool, and the most similar task) is recorded on
    every row; the decision is `score > threshold`.

    With `run` (the bootstrap loop) the pool is the run's pool store, re-read before each
    batch; the step never writes it. Each kept row carries `rouge_l_pool_seq`, the last pool
    entry it was scored against, so `AdmitToPool` only has to check what was admitted since.
    A task a killed run admitted (marked `resumed` by `SplitInstructions`) passes with its
    recorded score instead of being rejected as a copy of itself. Without `run`, the pool is
    `reference_path` (optional seed JSONL files) plus every row this step kept, in order,
    which filters e.g. EvolInstruct output.

    Attributes:
        run: the run's `BootstrapRun`: pool store, threshold and tokenizer (optional).
        tokenizer: without `run`: `rouge_score` reproduces rouge-score exactly (it drops
            non-ASCII text); `unicode` also compares non-Latin scripts.
        instruction_column: the column holding the text to compare.

    Runtime parameters:
        - `threshold`: without `run`: reject when the max ROUGE-L F-measure is above it
            (paper: 0.7). With `run`, the run's `rouge_threshold` applies.
        - `reference_path`: without `run`: seed JSONL file(s) (`bundled`: the package's
            own set) that form the pool.
        - `keep_rejected`: keep rejected rows, marked in `rouge_l_reason`.

    Input columns:
        - instruction (`str`): the candidate (or `instruction_column`).
        - candidate_id (`str`, optional): identifies the candidate across replays.

    Output columns:
        - task_id (`str`): the content id of the instruction.
        - rouge_l_max (`float`): the max ROUGE-L F-measure to the pool.
        - most_similar_task_id (`str`): the pool task with that score (`None` if the pool was empty).
        - most_similar_instruction (`str`): its text.
        - rouge_l_reason (`str`): `None` for kept rows.
        - rouge_l_pool_seq (`int`): with `run`, the newest pool entry the score covers.

    Categories:
        - filtering

    References:
        - [Self-Instruct: Aligning Language Models with Self-Generated Instructions](https://arxiv.org/abs/2212.10560)
        - [ROUGE: A Package for Automatic Evaluation of Summaries](https://aclanthology.org/W04-1013/)

    Citations:
        ```
        @misc{wang2022selfinstruct,
            title={Self-Instruct: Aligning Language Models with Self-Generated Instructions},
            author={Yizhong Wang and Yeganeh Kordi and Swaroop Mishra and Alisa Liu and Noah A. Smith and Daniel Khashabi and Hannaneh Hajishirzi},
            year={2022},
            eprint={2212.10560},
            archivePrefix={arXiv},
        }
        ```

    Examples:
        Filter instructions against the bundled seeds:

        ```python
        from distilabel_selfinstruct.filters.rouge import RougeLFilter

        step = RougeLFilter(reference_path=["bundled"])
        step.load()
        kept = next(step.process([{"instruction": "Suggest a name for a bakery."}]))
        ```
    """

    stage: ClassVar[Stage] = Stage.ROUGE_L
    tokenizer: Literal["rouge_score", "unicode"] = "rouge_score"
    instruction_column: str = "instruction"
    threshold: RuntimeParameter[float] = Field(
        default=0.7,
        description="Without a run: reject when max ROUGE-L F to the pool is above this.",
    )
    reference_path: Optional[RuntimeParameter[list[str]]] = Field(
        default=None,
        description="Without a run: seed JSONL file(s) that form the pool.",
    )
    keep_rejected: RuntimeParameter[bool] = Field(
        default=False,
        description="Keep rejected rows (marked with their reason) instead of dropping them.",
    )

    _index: Optional[RougeLIndex] = PrivateAttr(default=None)
    _pool_ids: list = PrivateAttr(default_factory=list)
    _pool_texts: list = PrivateAttr(default_factory=list)
    _positions: dict = PrivateAttr(default_factory=dict)
    _last_seq: int = PrivateAttr(default=0)

    @property
    def inputs(self) -> list[str]:
        return [self.instruction_column]

    @property
    def outputs(self) -> list[str]:
        return [
            "task_id",
            "rouge_l_max",
            "most_similar_task_id",
            "most_similar_instruction",
            "rouge_l_reason",
            "rouge_l_pool_seq",
        ]

    @property
    def effective_threshold(self) -> float:
        return self.run.rouge_threshold if self.run is not None else self.threshold

    def load(self) -> None:
        super().load()
        tokenizer = self.run.rouge_tokenizer if self.run is not None else self.tokenizer
        self._index = RougeLIndex(tokenizer=tokenizer)
        self._pool_ids, self._pool_texts, self._positions = [], [], {}
        if self.run is None and self.reference_path:
            seeds = load_seed_tasks(seed_paths(self.reference_path))
            self._extend_pool([seed.id for seed in seeds], [seed.instruction for seed in seeds])
        self._logger.info(f"ROUGE-L pool: {len(self._index)} tasks")

    def _extend_pool(self, ids: list[str], texts: list[str]) -> None:
        assert self._index is not None
        self._index.add(texts)
        for task_id in ids:
            self._positions.setdefault(task_id, len(self._pool_ids))
            self._pool_ids.append(task_id)
        self._pool_texts.extend(texts)

    def _refresh_from_store(self) -> None:
        """Adds the pool entries written since the last read."""
        assert self.store is not None
        new = self.store.tasks(after_seq=self._last_seq)
        if new:
            self._last_seq = new[-1]["seq"]
        new = [task for task in new if task["task_id"] not in self._positions]
        self._extend_pool([t["task_id"] for t in new], [t["instruction"] for t in new])

    def _pool_entry(self, index: int) -> tuple[Optional[str], Optional[str]]:
        if index < 0:
            return None, None
        return self._pool_ids[index], self._pool_texts[index]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        assert self._index is not None
        if self.store is not None:
            self._refresh_from_store()
        threshold = self.effective_threshold
        outputs: list[dict[str, Any]] = []
        for row in inputs:
            if is_resumed(row):
                outputs.append(row)  # admitted by an earlier run, with its recorded score
                continue
            if row.get("instruction_filter_reason"):
                # Kept by FilterInstructions(keep_rejected=True): never let it into the pool.
                if self.keep_rejected:
                    outputs.append({**row, **dict.fromkeys(self.outputs)})
                continue
            text = row.get(self.instruction_column) or ""
            match = self._index.best_match(text)
            # A score of 0 shares no token with anything: there is no "most similar" task.
            similar_id, similar_text = self._pool_entry(match.index if match.score > 0 else -1)
            too_similar = match.score > threshold
            scored = {
                **row,
                "task_id": task_id_for(text),
                "rouge_l_max": match.score,
                "most_similar_task_id": similar_id,
                "most_similar_instruction": similar_text,
                "rouge_l_reason": Reason.ROUGE_L_TOO_SIMILAR.value if too_similar else None,
                "rouge_l_pool_seq": self._last_seq if self.store is not None else None,
            }
            if too_similar:
                self.drop(
                    row.get("candidate_id"),
                    Reason.ROUGE_L_TOO_SIMILAR,
                    text=text,
                    score=match.score,
                    row=row,
                )
                if self.keep_rejected:
                    outputs.append(scored)
                continue
            if self.store is None:
                # Without a pool store this step is the pool: later rows compare to it.
                self._extend_pool([scored["task_id"]], [text])
            outputs.append(scored)
        self.flush_drops()
        yield outputs
