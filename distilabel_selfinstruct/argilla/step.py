"""`SelfInstructToArgilla`: a distilabel step sending Self-Instruct tasks to Argilla for review."""

from typing import TYPE_CHECKING, Any

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps.argilla.base import ArgillaBase
from distilabel.steps.base import Step, StepInput
from pydantic import Field, PositiveInt, PrivateAttr
from typing_extensions import override

from distilabel_selfinstruct.argilla.push import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    ReviewServerError,
    connect,
    get_or_create_dataset,
    upsert_records,
    with_retries,
)
from distilabel_selfinstruct.argilla.records import normalize_task, task_to_records
from distilabel_selfinstruct.loop_pipeline import JoinsLoopPipeline

if TYPE_CHECKING:
    from distilabel.typing import StepColumns, StepOutput


class SelfInstructToArgilla(JoinsLoopPipeline, ArgillaBase):
    """Pushes Self-Instruct tasks to an Argilla dataset for human review.

    `Step` that creates (or reuses) an Argilla dataset with the Self-Instruct
    review schema (`distilabel_selfinstruct.argilla.schema`) and upserts one
    record per task instance, keyed by `"{task_id}-{instance_index}"`, so
    re-running or resuming a pipeline updates records instead of duplicating them.
    Rows pass through unchanged: the step can sit anywhere in a pipeline.

    The review server is never allowed to break the pipeline: if it cannot be
    reached (or rejects the key) after `max_retries` retries with exponential
    backoff, the step stops pushing for the rest of the run, keeps passing rows
    through, and logs one line at the end saying how many tasks were not pushed
    and the `selfinstruct push` command that pushes them from the local JSONL.

    Attributes:
        dataset_name: the name of the Argilla dataset.
        dataset_workspace: the workspace of the dataset. Defaults to `None`, the
            server's first workspace.
        api_url: the Argilla URL. Defaults to the `ARGILLA_API_URL` environment variable.
        api_key: the Argilla API key (a `SecretStr`, never serialized). Defaults to
            the `ARGILLA_API_KEY` environment variable.
        batch_size: records per upsert request (at most 500, the server's limit).
        max_retries: retries of a failed request before giving up on the server.
        retry_base_delay: seconds before the first retry; doubles at each retry.
        min_submitted: reviews needed to complete a record, used only when the
            dataset is created (2 or more to measure reviewer agreement).
        resume_input: path of the official JSONL the pipeline writes, quoted in
            the resume command when tasks could not be pushed.

    Runtime parameters:
        - `dataset_name`: the name of the Argilla dataset.
        - `dataset_workspace`: the workspace of the dataset.
        - `api_url`: the Argilla URL.
        - `api_key`: the Argilla API key.
        - `batch_size`: records per upsert request (<= 500).
        - `max_retries`: retries of a failed request with exponential backoff.
        - `retry_base_delay`: seconds before the first retry.
        - `resume_input`: path of the official JSONL quoted in the resume command.

    Input columns:
        - task_id (`str`): deterministic id of the task.
        - instruction (`str`): the task instruction.
        - instances (`List[Dict[str, str]]`): `input`/`output` pairs.
        - is_classification (`bool`, optional): whether it is a classification task.
        - classification_score (`float`, optional): P(classification) in [0, 1].
        - labels (`List[str]`, optional): the label set of a classification task.
        - rouge_l_max (`float`, optional): max ROUGE-L to the task pool.
        - most_similar_instruction (`str`, optional): closest instruction in the pool.
        - most_similar_task_id (`str`, optional): its task id.
        - bootstrap_round (`int`, optional): the bootstrap iteration.
        - model_name (`str`, optional): the generating model.

    Output columns:
        - none added: the input rows are passed through unchanged.

    Categories:
        - save
        - argilla
        - human-review

    References:
        - [Self-Instruct: Aligning Language Models with Self-Generated Instructions](https://arxiv.org/abs/2212.10560)
        - [Argilla](https://docs.argilla.io/)

    Citations:
        ```
        @misc{wang2023selfinstructaligninglanguagemodels,
            title={Self-Instruct: Aligning Language Models with Self-Generated Instructions},
            author={Yizhong Wang and Yeganeh Kordi and Swaroop Mishra and Alisa Liu
                    and Noah A. Smith and Daniel Khashabi and Hannaneh Hajishirzi},
            year={2023},
            eprint={2212.10560},
            archivePrefix={arXiv},
            primaryClass={cs.CL},
            url={https://arxiv.org/abs/2212.10560},
        }
        ```

    Examples:
        Push the tasks of a pipeline to a local Argilla:

        ```python
        from distilabel.pipeline import Pipeline
        from distilabel.steps import LoadDataFromDicts

        from distilabel_selfinstruct.argilla.step import SelfInstructToArgilla

        with Pipeline(name="review") as pipeline:
            load = LoadDataFromDicts(data=[{
                "task_id": "t1",
                "instruction": "Classify the sentiment of the review.",
                "is_classification": True,
                "classification_score": 0.93,
                "instances": [{"input": "Great phone!", "output": "positive"}],
                "labels": ["positive", "negative"],
                "rouge_l_max": 0.31,
                "most_similar_instruction": "Classify the sentence.",
                "most_similar_task_id": "seed_task_3",
                "bootstrap_round": 1,
                "model_name": "gemma-3-270m",
            }])
            to_argilla = SelfInstructToArgilla(
                dataset_name="selfinstruct-review",
                dataset_workspace="argilla",
                api_url="http://127.0.0.1:6900",  # or ARGILLA_API_URL
                # api_key read from ARGILLA_API_KEY
            )
            load >> to_argilla

        distiset = pipeline.run(use_cache=False)
        ```
    """

    batch_size: RuntimeParameter[PositiveInt] = Field(
        default=DEFAULT_BATCH_SIZE,
        le=MAX_BATCH_SIZE,
        description="Records per upsert request (<= 500).",
    )
    max_retries: RuntimeParameter[int] = Field(
        default=3,
        ge=0,
        description="Retries of a failed request, with exponential backoff.",
    )
    retry_base_delay: RuntimeParameter[float] = Field(
        default=1.0,
        ge=0.0,
        description="Seconds before the first retry; doubles at each retry.",
    )
    min_submitted: PositiveInt = 1
    resume_input: RuntimeParameter[str] | None = Field(
        default=None,
        description="Path of the official JSONL quoted in the resume command.",
    )

    _down: str | None = PrivateAttr(default=None)
    _pushed_tasks: int = PrivateAttr(default=0)
    _not_pushed_tasks: int = PrivateAttr(default=0)
    _not_pushed_records: int = PrivateAttr(default=0)
    _invalid_rows: int = PrivateAttr(default=0)

    @property
    def inputs(self) -> "StepColumns":
        return {
            "task_id": True,
            "instruction": True,
            "instances": True,
            "is_classification": False,
            "classification_score": False,
            "labels": False,
            "rouge_l_max": False,
            "most_similar_instruction": False,
            "most_similar_task_id": False,
            "bootstrap_round": False,
            "model_name": False,
        }

    @property
    def outputs(self) -> "StepColumns":
        return []

    def load(self) -> None:
        """Connects and creates/reuses the dataset; never raises for server problems.

        `ArgillaBase.load` is skipped on purpose: it raises when the key is
        missing or the server is down, which would stop the whole pipeline.
        """
        Step.load(self)
        self._client = None
        self._dataset = None
        if not self.dataset_name:
            self._give_up("no dataset_name was given")
            return
        try:
            self._retrying(self._connect)
        except ReviewServerError as e:
            self._give_up(str(e))

    def _connect(self) -> None:
        if self._client is None:
            self._client = connect(self.api_url, self.api_key)
        self._dataset = get_or_create_dataset(
            self._client,
            self.dataset_name,
            self.dataset_workspace,
            min_submitted=self.min_submitted,
        )

    def _retrying(self, fn: Any) -> Any:
        return with_retries(fn, max_retries=self.max_retries, base_delay=self.retry_base_delay)

    def _give_up(self, reason: str) -> None:
        if self._down is None:
            self._down = reason
            self._logger.warning(
                f"Argilla review push disabled for the rest of this run: {reason}. "
                "Rows still pass through and the local output stays complete."
            )

    def _push(self, tasks: list[dict[str, Any]]) -> None:
        if self._dataset is None:
            self._connect()
        records = [r for t in tasks for r in task_to_records(t)]
        if records:
            upsert_records(self._client, self._dataset, records, self.batch_size)

    @override
    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore
        """Upserts the batch's tasks as review records and yields the rows unchanged."""
        tasks = []
        for row in inputs:
            try:
                tasks.append(normalize_task(row))
            except (ValueError, TypeError, AttributeError, KeyError):
                self._invalid_rows += 1
        if self._down is None and tasks:
            try:
                self._retrying(lambda: self._push(tasks))
                self._pushed_tasks += len(tasks)
                tasks = []
            except ReviewServerError as e:
                self._give_up(str(e))
        self._not_pushed_tasks += len(tasks)
        self._not_pushed_records += sum(len(t["instances"]) for t in tasks)
        yield inputs

    def resume_command(self) -> str:
        parts = [
            "selfinstruct push",
            f"--input {self.resume_input or '<official.jsonl>'}",
            f"--dataset {self.dataset_name or '<dataset>'}",
        ]
        if self.dataset_workspace:
            parts.append(f"--workspace {self.dataset_workspace}")
        if self.api_url:
            parts.append(f"--api-url {self.api_url}")
        return " ".join(parts)

    def unload(self) -> None:
        """Logs the one line that says what was not pushed and how to push it later."""
        if self._not_pushed_tasks:
            self._logger.warning(
                f"Argilla: {self._not_pushed_tasks} tasks ({self._not_pushed_records} records) "
                "were NOT pushed "
                f"to dataset {self.dataset_name!r} ({self._down}); the local output is complete. "
                f"Push them later with: {self.resume_command()}"
            )
        if self._invalid_rows:
            self._logger.warning(
                f"Argilla: skipped {self._invalid_rows} rows without task_id or instruction."
            )
        super().unload()
