"""The end of a round: finished tasks go into the pool store.

The pool store, not distilabel's cache, is the record of what a run produced: exports read
it, and `SampleDemonstrations` reads it to know when to stop. Tasks are keyed by content id,
so a batch replayed after a crash overwrites its own rows instead of duplicating them.
"""

from typing import TYPE_CHECKING, Any, ClassVar

from distilabel.steps import StepInput

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import DropRecorder

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
    # With the LLM judge (`JudgeInstances`): per instance `{"rating", "rationale"}`.
    "judgements",
    "judge_model",
    # With the semantic filter (`SemanticDedup`): the max cosine to the pool and that task.
    "semantic_max",
    "semantic_most_similar_task_id",
    # With topic steering: the topic the instruction prompt asked for.
    "topic",
    # The model that wrote the instruction (`model_name` is the instances' model).
    "instruction_model",
)


# Set by filters running with keep_rejected: such rows must not become finished tasks.
REJECTION_COLUMNS: tuple[str, ...] = (
    "instruction_filter_reason",
    "rouge_l_reason",
    "semantic_reason",
)


def task_record(row: dict[str, Any]) -> dict[str, Any]:
    """The finished-task record of a pipeline row (only the task's own columns)."""
    return {column: row.get(column) for column in TASK_COLUMNS}


class CommitToPool(DropRecorder):
    """Stores finished tasks in the run's pool store and passes them on.

    Once the store holds the run's `num_instructions` finished tasks, later ones are
    dropped with reason `target_reached` (tasks in flight when the target is met would
    overshoot it); the check and the write are one transaction. Rows without a task id or
    instances, or marked rejected by an earlier filter, are dropped as `not_accepted`
    (distilabel passes a failed step's rows on with `None`s).

    Attributes:
        run: the run's `BootstrapRun` (pool store and target); required.

    Input columns:
        - task_id (`str`): the task's content id.
        - instruction (`str`): the instruction.
        - instances (`List[Dict[str, str]]`): its instances.

    Output columns:
        - the finished task, one row per task and nothing else (so the dataset has one schema
          however the run was resumed): `task_id`, `instruction`, `is_classification`,
          `classification_score`, `instances`, `labels`, `rouge_l_max`, `most_similar_task_id`,
          `most_similar_instruction`, `bootstrap_round`, `model_name`, and `judgements`
          and `judge_model` (`None` without the judge).

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

    stage: ClassVar[Stage] = Stage.COMMIT
    needs_run: ClassVar[bool] = True

    @property
    def inputs(self) -> list[str]:
        return ["task_id", "instruction", "instances"]

    @property
    def outputs(self) -> list[str]:
        return list(TASK_COLUMNS)

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        store, run = self.store, self.run
        assert store is not None and run is not None
        candidates = []
        for row in inputs:
            # A step that raised has its outputs set to None by distilabel and its rows sent
            # on; rows marked rejected upstream (keep_rejected) are not finished tasks either.
            if (
                not row.get("task_id")
                or not row.get("instances")
                or any(row.get(column) for column in REJECTION_COLUMNS)
            ):
                self.drop(
                    row.get("candidate_id"),
                    Reason.NOT_ACCEPTED,
                    text=row.get("instruction"),
                    row=row,
                )
                continue
            candidates.append((row, task_record(row)))
        # One at a time, so each record learns whether the target still had room for it.
        records = []
        for row, record in candidates:
            if store.complete([record], limit=run.num_instructions):
                records.append(record)
            else:
                self.drop(row.get("candidate_id") or row["task_id"], Reason.TARGET_REACHED, row=row)
        self.flush_drops()
        yield records
