"""Stage 7: instance filters.

Instances are checked one by one (empty output, input equal to output, a dangling ':'),
then against each other (exact duplicates; different outputs for the same input), then
against the task's label set for classification tasks. Unlike the paper, which drops a whole
task when two instances conflict, only the conflicting instances go.
"""

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import DropRecorder

if TYPE_CHECKING:
    from distilabel.typing import StepOutput


def _norm(text: str) -> str:
    return " ".join(text.split())


def instance_reason(instance: dict[str, str]) -> Optional[Reason]:
    """Reason code for an instance that is bad on its own, `None` if it is fine."""
    text_in = _norm(instance.get("input") or "")
    text_out = _norm(instance.get("output") or "")
    if not text_out:
        return Reason.EMPTY_OUTPUT
    if text_in and text_in == text_out:
        return Reason.INPUT_EQUALS_OUTPUT
    if text_in.endswith(":") or text_out.endswith(":"):
        return Reason.ENDS_WITH_COLON
    return None


def filter_instances(
    instances: list[dict[str, str]],
    labels: Optional[list[str]] = None,
    max_instances: int = 5,
    min_labels: int = 2,
) -> tuple[list[dict[str, str]], list[tuple[int, Reason]]]:
    """Returns the kept instances and `(position, reason)` for every dropped one.

    Args:
        instances: `{"input", "output"}` dicts in generation order.
        labels: the task's label set; given for classification tasks, where every output
            must be one of them and at least `min_labels` distinct labels must remain.
        max_instances: keep at most this many (the first ones).
        min_labels: classification tasks with fewer distinct labels lose all instances
            (a one-label "classification" teaches nothing).
    """
    dropped: list[tuple[int, Reason]] = []
    candidates: list[tuple[int, dict[str, str]]] = []
    allowed = {_norm(label) for label in labels} if labels is not None else None
    for position, instance in enumerate(instances):
        reason = instance_reason(instance)
        if reason is None and allowed is not None and _norm(instance["output"]) not in allowed:
            reason = Reason.LABEL_NOT_IN_SET
        if reason:
            dropped.append((position, reason))
        else:
            candidates.append((position, instance))

    # Exact duplicates keep their first copy; an input seen with different outputs is a
    # conflict and all its instances go. Tasks without input may have several outputs.
    outputs_by_input: dict[str, set[str]] = defaultdict(set)
    for _, instance in candidates:
        outputs_by_input[_norm(instance["input"])].add(_norm(instance["output"]))
    seen: set[tuple[str, str]] = set()
    kept: list[dict[str, str]] = []
    kept_positions: list[int] = []
    for position, instance in candidates:
        key = (_norm(instance["input"]), _norm(instance["output"]))
        if key in seen:
            dropped.append((position, Reason.DUPLICATE))
        elif key[0] and len(outputs_by_input[key[0]]) > 1:
            dropped.append((position, Reason.CONFLICTING_OUTPUTS))
        elif len(kept) >= max_instances:
            dropped.append((position, Reason.OVER_LIMIT))
        else:
            seen.add(key)
            kept.append(
                {
                    "input": instance["input"].strip(),
                    "output": instance["output"].strip(),
                }
            )
            kept_positions.append(position)

    if allowed is not None and kept:
        distinct = {_norm(instance["output"]) for instance in kept}
        if len(distinct) < min_labels:
            dropped.extend((position, Reason.TOO_FEW_LABELS) for position in kept_positions)
            kept = []
    return kept, sorted(dropped)


class FilterInstances(DropRecorder):
    """Drops bad instances, and tasks left with none.

    Per instance: `empty_output`, `input_equals_output`, `ends_with_colon`,
    `label_not_in_set` (classification), `duplicate`, `conflicting_outputs` (only the
    instances whose shared input has different outputs), `over_limit`. A classification task
    whose instances cover fewer than `min_labels` labels loses them (`too_few_labels`). A
    task left without instances is dropped with reason `no_valid_instances`. The label
    distribution of classification tasks is logged at the end.

    Attributes:
        run: the run's `BootstrapRun`, to record drops in its pool store (optional).
        min_labels: distinct labels a classification task needs.

    Runtime parameters:
        - `max_instances`: instances kept per task (paper: 5).

    Input columns:
        - instances (`List[Dict[str, str]]`): generated instances.
        - is_classification (`bool`): whether to check outputs against `labels`.
        - labels (`List[str]`): the task's generated labels.

    Output columns:
        - instances (`List[Dict[str, str]]`): the kept instances.
        - labels (`List[str]`): the labels the kept instances use.
        - instances_dropped (`int`): how many were dropped.

    Categories:
        - filtering

    References:
        - [Self-Instruct: Aligning Language Models with Self-Generated Instructions](https://arxiv.org/abs/2212.10560)

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
        Filter the instances of one task:

        ```python
        from distilabel_selfinstruct.filters.instance_filters import FilterInstances

        step = FilterInstances()
        step.load()
        rows = next(step.process([{"instruction": "Add the numbers.", "is_classification": False, "labels": [],
                                   "instances": [{"input": "2 3", "output": "5"}, {"input": "2 3", "output": "6"}]}]))
        ```
    """

    stage: ClassVar[Stage] = Stage.INSTANCES
    min_labels: int = 2
    max_instances: RuntimeParameter[int] = Field(
        default=5, description="Instances kept per task (paper: 5)."
    )

    _labels: Counter = PrivateAttr(default_factory=Counter)

    @property
    def inputs(self) -> list[str]:
        return ["instances", "is_classification", "labels"]

    @property
    def outputs(self) -> list[str]:
        return ["instances", "labels", "instances_dropped"]

    @property
    def label_distribution(self) -> Counter:
        return self._labels

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        kept_rows: list[dict[str, Any]] = []
        for row in inputs:
            task_key = row.get("task_id") or row.get("candidate_id")
            is_classification = bool(row.get("is_classification"))
            instances = row.get("instances") or []
            kept, dropped = filter_instances(
                instances,
                labels=list(row.get("labels") or []) if is_classification else None,
                max_instances=self.max_instances,
                min_labels=self.min_labels,
            )
            for position, reason in dropped:
                instance = instances[position]
                self.drop(
                    f"{task_key}#{position}",
                    reason,
                    text=instance.get("output"),
                    row=row,
                    stage=Stage.INSTANCE_FILTERS,
                )
            if not kept:
                reason = Reason.NO_VALID_INSTANCES if instances else Reason.NO_INSTANCES_PARSED
                self.drop(
                    row.get("candidate_id") or task_key,
                    reason,
                    text=row.get("instruction"),
                    row=row,
                )
                continue
            labels = []
            if is_classification:
                labels = list(dict.fromkeys(instance["output"] for instance in kept))
                self._labels.update(instance["output"] for instance in kept)
            kept_rows.append(
                {
                    **row,
                    "instances": kept,
                    "labels": labels,
                    "instances_dropped": len(dropped),
                }
            )
        self.flush_drops()
        yield kept_rows

    def unload(self) -> None:
        if self._labels:
            top = ", ".join(f"{label}={n}" for label, n in self._labels.most_common(10))
            self._logger.info(f"Classification label distribution (top 10): {top}")
        super().unload()
