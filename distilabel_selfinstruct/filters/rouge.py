"""Stage 4: the ROUGE-L novelty filter.

A candidate is rejected when its ROUGE-L F-measure against any task in the pool (seeds plus
everything accepted so far, including earlier candidates of the same batch) is above the
threshold. The kernel (`RougeLIndex`) is exact against rouge-score; this module is the
distilabel step around it and, inside the bootstrap pipeline, the single writer of the pool.
"""

from typing import TYPE_CHECKING, Any, Literal, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.filters.base import DropRecorder
from distilabel_selfinstruct.filters.rouge_index import RougeLIndex
from distilabel_selfinstruct.pool import PoolStore, task_id_for
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


class RougeLFilter(DropRecorder):
    """Drops candidates too similar (ROUGE-L) to any task in the pool.

    The score (max ROUGE-L F-measure to the pool, and the most similar task) is recorded on
    every row; the decision is `score > threshold`. Rows are decided in order, and each
    accepted candidate joins the pool before the next one is scored.

    With `pool_path` (the bootstrap pipeline), the pool is the run's pool store: it is read
    at load time and refreshed before each batch, accepted candidates are written to it, and
    a candidate the store already accepted (a batch replayed after a crash) is passed through
    with its recorded score instead of being rejected as a duplicate of itself. Once the
    store holds `max_pool_size` machine tasks, further candidates are dropped as
    `target_reached`; with `num_instructions`, novel candidates are dropped as
    `enough_in_flight` while finished plus in-flight tasks (weighted by their measured
    survival) exceed `in_flight_margin` times the target, so later LLM stages are not spent
    on tasks the run cannot use. Without `pool_path` the pool is `reference_path` (optional seed JSONL
    files) plus what this step accepted, which filters e.g. EvolInstruct output.

    Attributes:
        tokenizer: `rouge_score` reproduces rouge-score exactly (it drops non-ASCII text);
            `unicode` also compares non-Latin scripts.
        instruction_column: the column holding the text to compare.
        in_flight_margin: how far in-flight work may exceed the target (default 1.5x).
        expected_survival: share of accepted tasks expected to finish, until measured.

    Runtime parameters:
        - `threshold`: reject when the max ROUGE-L F-measure is above it (paper: 0.7).
        - `pool_path`: the run's pool store (SQLite); optional.
        - `reference_path`: seed JSONL file(s), comma separated (`bundled`: the package's own
            set), used as the pool when there is no pool store.
        - `max_pool_size`: with a pool store, stop accepting once it holds this many machine
            tasks (optional).
        - `num_instructions`: with a pool store, the run's target of finished tasks (optional).
        - `keep_rejected`: keep rejected rows, marked in `rouge_l_reason`.

    Input columns:
        - instruction (`str`): the candidate (or `instruction_column`).
        - candidate_id (`str`, optional): identifies the candidate across replays.
        - bootstrap_round (`int`, optional): recorded with the pool entry.

    Output columns:
        - task_id (`str`): the content id of the accepted instruction.
        - rouge_l_max (`float`): the max ROUGE-L F-measure to the pool.
        - most_similar_task_id (`str`): the pool task with that score (`None` if the pool was empty).
        - most_similar_instruction (`str`): its text.
        - rouge_l_reason (`str`): `None` for kept rows.

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

        step = RougeLFilter(reference_path="bundled")
        step.load()
        kept = next(step.process([{"instruction": "Suggest a name for a bakery."}]))
        ```
    """

    stage: str = "rouge_l"
    tokenizer: Literal["rouge_score", "unicode"] = "rouge_score"
    instruction_column: str = "instruction"
    threshold: RuntimeParameter[float] = Field(
        default=0.7, description="Reject when max ROUGE-L F to the pool is above this."
    )
    reference_path: Optional[RuntimeParameter[str]] = Field(
        default=None,
        description="Seed JSONL file(s), comma separated: the pool when there is no pool store.",
    )
    max_pool_size: Optional[RuntimeParameter[int]] = Field(
        default=None,
        description="With a pool store: stop accepting once it holds this many machine tasks.",
    )
    num_instructions: Optional[RuntimeParameter[int]] = Field(
        default=None,
        description="With a pool store: the run's target of finished tasks; novel candidates"
        " are dropped (`enough_in_flight`) while the tasks in flight are expected to exceed it"
        " by `in_flight_margin`.",
    )
    in_flight_margin: float = 1.5
    expected_survival: float = 0.8
    keep_rejected: RuntimeParameter[bool] = Field(
        default=False,
        description="Keep rejected rows (marked with their reason) instead of dropping them.",
    )

    _index: Optional[RougeLIndex] = PrivateAttr(default=None)
    _pool_ids: list = PrivateAttr(default_factory=list)
    _pool_texts: list = PrivateAttr(default_factory=list)
    _positions: dict = PrivateAttr(default_factory=dict)
    _store: Optional[PoolStore] = PrivateAttr(default=None)
    _last_seq: int = PrivateAttr(default=0)
    _machine_count: int = PrivateAttr(default=0)
    # Expected finished tasks, read from the store once per batch and advanced by this
    # batch's own acceptances (the store's count queries scan every drop).
    _expected: Optional[float] = PrivateAttr(default=None)
    _survival: float = PrivateAttr(default=0.0)

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
        ]

    def load(self) -> None:
        super().load()
        self._index = RougeLIndex(tokenizer=self.tokenizer)
        self._pool_ids, self._pool_texts, self._positions = [], [], {}
        if self.pool_path:
            self._store = PoolStore(self.pool_path)
            self._refresh_from_store()
        elif self.reference_path:
            seeds = load_seed_tasks(seed_paths(self.reference_path))
            self._extend_pool([seed.id for seed in seeds], [seed.instruction for seed in seeds])
        self._logger.info(f"ROUGE-L pool: {len(self._index)} tasks")

    def unload(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()

    def _extend_pool(self, ids: list[str], texts: list[str]) -> None:
        assert self._index is not None
        self._index.add(texts)
        for task_id in ids:
            self._positions.setdefault(task_id, len(self._pool_ids))
            self._pool_ids.append(task_id)
        self._pool_texts.extend(texts)

    def _refresh_from_store(self) -> None:
        """Adds pool entries written since the last read (a resumed run, or replicas)."""
        assert self._store is not None
        new = self._store.tasks(after_seq=self._last_seq)
        if new:
            self._last_seq = new[-1]["seq"]
        new = [task for task in new if task["task_id"] not in self._positions]
        self._extend_pool([t["task_id"] for t in new], [t["instruction"] for t in new])
        self._machine_count = self._store.count("machine")

    def _pool_entry(self, index: int) -> tuple[Optional[str], Optional[str]]:
        if index < 0:
            return None, None
        return self._pool_ids[index], self._pool_texts[index]

    def _enough_in_flight(self) -> bool:
        # Every accepted instruction costs a classification and an instance call; accepting
        # far more than the target can use only spends them on rows CommitToPool drops.
        if self._expected is None or self.num_instructions is None:
            return False
        return self._expected >= self.in_flight_margin * self.num_instructions

    def _target_reached(self) -> bool:
        return (
            self._store is not None
            and self.max_pool_size is not None
            and self._machine_count >= self.max_pool_size
        )

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        assert self._index is not None
        outputs: list[dict[str, Any]] = []
        if self._store is not None:
            self._refresh_from_store()
            if self.num_instructions is not None:
                self._survival = self._store.survival_rate(self.expected_survival)
                self._expected = self._store.expected_finished(self.expected_survival)
        for row in inputs:
            text = row.get(self.instruction_column) or ""
            candidate_id = row.get("candidate_id")
            replay = (
                self._store.accepted_candidate(candidate_id)
                if self._store is not None and candidate_id
                else None
            )
            if replay is not None:
                similar_id = replay["most_similar_task_id"]
                position = self._positions.get(similar_id)
                similar_text = None if position is None else self._pool_texts[position]
                outputs.append(
                    {
                        **row,
                        "task_id": replay["task_id"],
                        "rouge_l_max": replay["rouge_l_max"],
                        "most_similar_task_id": similar_id,
                        "most_similar_instruction": similar_text,
                        "rouge_l_reason": None,
                    }
                )
                continue

            if row.get("instruction_filter_reason"):
                # Kept by FilterInstructions(keep_rejected=True): never let it into the pool.
                if self.keep_rejected:
                    outputs.append({**row, **dict.fromkeys(self.outputs)})
                continue
            match = self._index.best_match(text)
            # A score of 0 shares no token with anything: there is no "most similar" task.
            similar_id, similar_text = self._pool_entry(match.index if match.score > 0 else -1)
            reason = None
            if match.score > self.threshold:
                reason = "rouge_l_too_similar"
            elif self._target_reached():
                reason = "target_reached"
            elif self._enough_in_flight():
                reason = "enough_in_flight"
            scored = {
                **row,
                "task_id": task_id_for(text),
                "rouge_l_max": match.score,
                "most_similar_task_id": similar_id,
                "most_similar_instruction": similar_text,
                "rouge_l_reason": reason,
            }
            if reason is not None:
                self.drop(candidate_id, reason, text=text, score=match.score, row=row)
                if self.keep_rejected:
                    outputs.append(scored)
                continue
            if self._store is not None:
                task_id = self._store.accept(
                    candidate_id=candidate_id or scored["task_id"],
                    instruction=text,
                    bootstrap_round=row.get("bootstrap_round"),
                    rouge_l_max=match.score,
                    most_similar_task_id=similar_id,
                )
                if task_id is None:
                    # Same text as a pool task: only reachable with a threshold of 1.0.
                    self.drop(candidate_id, "duplicate_instruction", text=text, score=1.0, row=row)
                    continue
                scored["task_id"] = task_id
                self._machine_count += 1
                if self._expected is not None:
                    self._expected += self._survival
            self._extend_pool([scored["task_id"]], [text])
            outputs.append(scored)
        self.flush_drops()
        yield outputs
