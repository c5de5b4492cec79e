"""The end of a round: finished tasks go into the pool store.

The pool store, not distilabel's cache, is the record of what a run produced: exports read
it, and `SampleDemonstrations` reads it to know when to stop. Tasks are keyed by content id,
so a batch replayed after a crash overwrites its own rows instead of duplicating them.
"""

from typing import TYPE_CHECKING, Any, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.filters.base import DropRecorder
from distilabel_selfinstruct.pool import PoolStore

if TYPE_CHECKING:
    from distilabel.typing import StepOutput

# The columns of a finished task, in the order exports and the Argilla step expect them.
TASK_COLUMNS: tuple[str, ...] = (
    "task_id",
    "instruction",
    "is_classification",
    "classification_score",
    "instances",
    "labels",
    "rouge_l_max",
    "most_similar_task_id",
    "most_similar_instruction",
    "bootstrap_round",
    "model_name",
)


# Set by filters running with keep_rejected: such rows must not become finished tasks.
REJECTION_COLUMNS: tuple[str, ...] = ("instruction_filter_reason", "rouge_l_reason")


def task_record(row: dict[str, Any]) -> dict[str, Any]:
    """The finished-task record of a pipeline row (only the task's own columns)."""
    return {column: row.get(column) for column in TASK_COLUMNS}


class CommitToPool(DropRecorder):
    """Stores finished tasks in the run's pool store and passes them on.

    Once the store holds `num_instructions` finished tasks, later ones are dropped with
    reason `target_reached` (rounds in flight when the target is met would overshoot it).
    Rows without a task id or instances, or marked rejected by an earlier filter, are
    dropped as `not_accepted` (distilabel passes a failed step's rows on with `None`s).

    Runtime parameters:
        - `pool_path`: the run's pool store (SQLite).
        - `num_instructions`: the run's target of finished tasks (optional: no cap).

    Input columns:
        - task_id (`str`): the task's content id.
        - instruction (`str`): the instruction.
        - instances (`List[Dict[str, str]]`): its instances.

    Output columns:
        - the finished task, one row per task and nothing else (so the dataset has one schema
          however the run was resumed): `task_id`, `instruction`, `is_classification`,
          `classification_score`, `instances`, `labels`, `rouge_l_max`, `most_similar_task_id`,
          `most_similar_instruction`, `bootstrap_round`, `model_name`.

    Categories:
        - save

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
    """

    stage: str = "commit"
    pool_path: RuntimeParameter[str] = Field(  # type: ignore[assignment]
        default="selfinstruct_pool.sqlite", description="The run's pool store (SQLite)."
    )
    num_instructions: Optional[RuntimeParameter[int]] = Field(
        default=None, description="Finished tasks wanted; later ones are dropped."
    )
    _store: Optional[PoolStore] = PrivateAttr(default=None)

    @property
    def inputs(self) -> list[str]:
        return ["task_id", "instruction", "instances"]

    @property
    def outputs(self) -> list[str]:
        return list(TASK_COLUMNS)

    def load(self) -> None:
        super().load()
        self._store = PoolStore(self.pool_path)

    def unload(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        assert self._store is not None
        done = self._store.completed_ids()
        records = []
        for row in inputs:
            # A step that raised has its outputs set to None by distilabel and its rows sent
            # on; rows marked rejected upstream (keep_rejected) are not finished tasks either.
            if (
                not row.get("task_id")
                or not row.get("instances")
                or any(row.get(column) for column in REJECTION_COLUMNS)
            ):
                self.drop(
                    row.get("candidate_id"), "not_accepted", text=row.get("instruction"), row=row
                )
                continue
            replay = row["task_id"] in done
            if (
                not replay
                and self.num_instructions is not None
                and len(done) >= self.num_instructions
            ):
                self.drop(row.get("candidate_id") or row["task_id"], "target_reached", row=row)
                continue
            done.add(row["task_id"])
            records.append(task_record(row))
        self._store.complete(records)
        self.flush_drops()
        yield records
