"""Stage 7: instance filters.

Instances are checked one by one (empty output, input equal to output, a dangling ':'),
then for degenerate text (`filters.degenerate`: an output that runs on into another
example is cut where it starts when what comes before is a complete answer; loops,
leftover markup and outputs that restate the instruction are dropped), then against each
other (exact duplicates; different outputs for the same input), then against the task's
label set for classification tasks. Unlike the paper, which drops a whole task when two
instances conflict, only the conflicting instances go.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters import degenerate
from distilabel_selfinstruct.filters.base import DropRecorder
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import StepOutput

# Counter of the pool store: instances cut where they ran on (kept, shortened).
CUT_COUNTER = "instances_cut_run_on"


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


@dataclass(frozen=True)
class DegenerateChecks:
    """Which degenerate-text checks run, and their thresholds (see `filters.degenerate`).

    Attributes:
        repetition: drop loops (`repeated_text`) in the output or the input.
        run_on: cut an output that runs on into another example, or drop it (`runs_on`).
        markup: drop leftover HTML tags and template markers (`markup`).
        restatement: drop an output that restates its instruction (`restates_instruction`).
        label_set: drop a classification task's instances when its labels are no label
            set (`implausible_labels`).
        max_repetition: the repeated share of words above which text is a loop.
        max_restatement: the ROUGE-L to the instruction above which an output restates it.
        demonstrations: the seed texts the prompts show (for copied run-ons).
    """

    repetition: bool = True
    run_on: bool = True
    markup: bool = True
    restatement: bool = True
    label_set: bool = True
    max_repetition: float = 0.5
    max_restatement: float = 0.55
    demonstrations: tuple[str, ...] = ()


NO_DEGENERATE_CHECKS = DegenerateChecks(
    repetition=False, run_on=False, markup=False, restatement=False, label_set=False
)


class Verdict(NamedTuple):
    """One instance after the degenerate checks: the instance to keep (cut where it ran
    on), or the reason and score it was dropped with."""

    instance: Optional[dict[str, str]]
    reason: Optional[Reason] = None
    score: Optional[float] = None
    cut: bool = False


def degenerate_verdict(
    instance: dict[str, str], instruction: str, checks: DegenerateChecks
) -> Verdict:
    """Runs the enabled checks on one instance of `instruction`."""
    text_in, text_out = instance.get("input") or "", instance.get("output") or ""
    own = (instruction, text_in)
    cut = False
    # A loop is bad wherever it starts, so it is looked for before a run-on is cut off.
    if checks.repetition:
        score = max(degenerate.repetition_score(text_out), degenerate.repetition_score(text_in))
        if score > checks.max_repetition:
            return Verdict(None, Reason.REPEATED_TEXT, score)
    if checks.run_on:
        start = degenerate.run_on_start(text_out, demonstrations=checks.demonstrations, own=own)
        if start is not None:
            before = text_out[:start]
            if not degenerate.is_complete_answer(before):
                return Verdict(None, Reason.RUNS_ON, start / max(1, len(text_out)))
            text_out, cut = before.strip(), True
    if checks.markup and (
        degenerate.markup_found(text_out, context=f"{instruction}\n{text_in}")
        or degenerate.markup_found(text_in, context=instruction)
    ):
        return Verdict(None, Reason.MARKUP, 1.0)
    if checks.restatement:
        score = degenerate.restatement_score(text_out, instruction)
        if score > checks.max_restatement:
            return Verdict(None, Reason.RESTATES_INSTRUCTION, score)
    return Verdict({"input": text_in, "output": text_out}, cut=cut)


class FilteredInstances(NamedTuple):
    kept: list[dict[str, str]]
    # (position, reason) of every dropped instance, in position order.
    dropped: list[tuple[int, Reason]]
    # Positions of kept instances that were cut where they ran on.
    cut: list[int] = []
    # The score a degenerate check dropped an instance with, by position.
    scores: dict[int, float] = {}


def filter_instances(
    instances: list[dict[str, str]],
    labels: Optional[list[str]] = None,
    max_instances: int = 5,
    min_labels: int = 2,
    instruction: str = "",
    checks: DegenerateChecks = NO_DEGENERATE_CHECKS,
) -> FilteredInstances:
    """Returns the kept instances, `(position, reason)` for every dropped one, and the
    positions of the kept ones that were cut.

    Args:
        instances: `{"input", "output"}` dicts in generation order.
        labels: the task's label set; given for classification tasks, where every output
            must be one of them and at least `min_labels` distinct labels must remain.
        max_instances: keep at most this many (the first ones).
        min_labels: classification tasks with fewer distinct labels lose all instances
            (a one-label "classification" teaches nothing).
        instruction: the task's instruction (for the degenerate checks).
        checks: the degenerate checks to run (default: none).
    """
    dropped: list[tuple[int, Reason]] = []
    candidates: list[tuple[int, dict[str, str]]] = []
    cut: list[int] = []
    scores: dict[int, float] = {}
    if (
        labels is not None
        and checks.label_set
        and degenerate.label_set_problem(
            instruction, [instance.get("output") or "" for instance in instances]
        )
    ):
        return FilteredInstances(
            [], [(position, Reason.IMPLAUSIBLE_LABELS) for position in range(len(instances))]
        )
    allowed = {_norm(label) for label in labels} if labels is not None else None
    for position, instance in enumerate(instances):
        reason = instance_reason(instance)
        if reason is None and allowed is not None and _norm(instance["output"]) not in allowed:
            reason = Reason.LABEL_NOT_IN_SET
        if reason is None and labels is None:
            # Labels are one word or a few: only free text can be degenerate.
            verdict = degenerate_verdict(instance, instruction, checks)
            reason = verdict.reason
            if verdict.score is not None:
                scores[position] = verdict.score
            if verdict.instance is not None:
                instance = verdict.instance
                if verdict.cut:
                    cut.append(position)
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
            kept, kept_positions = [], []
    return FilteredInstances(
        kept,
        sorted(dropped),
        [position for position in cut if position in kept_positions],
        scores,
    )


class FilterInstances(DropRecorder):
    """Drops bad instances, and tasks left with none.

    Per instance: `empty_output`, `input_equals_output`, `ends_with_colon`,
    `label_not_in_set` (classification); then the degenerate-text checks of
    `filters.degenerate`, each switchable: `runs_on` (an output that runs on into another
    example is cut where that starts, and kept, when what comes before is a complete
    answer; the cuts are counted in the pool store's `instances_cut_run_on`),
    `repeated_text`, `markup`, `restates_instruction`; then `duplicate`,
    `conflicting_outputs` (only the instances whose shared input has different outputs),
    `over_limit`. A classification task whose labels are no label set loses its instances
    (`implausible_labels`), and so does one whose instances cover fewer than `min_labels`
    labels (`too_few_labels`). A task left without instances is dropped with reason
    `no_valid_instances`. Each drop is recorded with its check's score where it has one.
    The label distribution of classification tasks is logged at the end.

    Attributes:
        run: the run's `BootstrapRun`, to record drops in its pool store (optional).
        min_labels: distinct labels a classification task needs.
        check_repetition: drop outputs and inputs that loop (`repeated_text`).
        check_run_on: cut or drop outputs that run on into another example (`runs_on`).
        check_markup: drop leftover HTML tags and template markers (`markup`).
        check_restatement: drop outputs that restate their instruction
            (`restates_instruction`).
        check_label_set: drop classification tasks whose labels are no label set
            (`implausible_labels`).

    Runtime parameters:
        - `max_instances`: instances kept per task (paper: 5).
        - `max_repetition`: share of repeated words above which text is a loop.
        - `max_restatement`: ROUGE-L to the instruction above which an output restates it.
        - `seeds_path`: the seed JSONL files the prompts' demonstrations come from (words
            copied from them mark a run-on); default: the bundled seeds.

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
    check_repetition: bool = True
    check_run_on: bool = True
    check_markup: bool = True
    check_restatement: bool = True
    check_label_set: bool = True
    max_instances: RuntimeParameter[int] = Field(
        default=5, description="Instances kept per task (paper: 5)."
    )
    max_repetition: RuntimeParameter[float] = Field(
        default=DegenerateChecks.max_repetition,
        description="Share of repeated words above which an output or input is a loop.",
    )
    max_restatement: RuntimeParameter[float] = Field(
        default=DegenerateChecks.max_restatement,
        description="ROUGE-L to the instruction above which an output only restates it.",
    )
    seeds_path: Optional[RuntimeParameter[list[str]]] = Field(
        default=None,
        description="Seed JSONL file(s) the demonstrations come from; default: the bundled seeds.",
    )

    _labels: Counter = PrivateAttr(default_factory=Counter)
    _checks: DegenerateChecks = PrivateAttr(default=NO_DEGENERATE_CHECKS)

    def load(self) -> None:
        super().load()
        demonstrations: tuple[str, ...] = ()
        if self.check_run_on:
            seeds = load_seed_tasks(seed_paths(self.seeds_path))
            demonstrations = degenerate.demonstration_texts(seeds)
        self._checks = DegenerateChecks(
            repetition=self.check_repetition,
            run_on=self.check_run_on,
            markup=self.check_markup,
            restatement=self.check_restatement,
            label_set=self.check_label_set,
            max_repetition=self.max_repetition,
            max_restatement=self.max_restatement,
            demonstrations=demonstrations,
        )

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
        cuts = 0
        for row in inputs:
            task_key = row.get("task_id") or row.get("candidate_id")
            is_classification = bool(row.get("is_classification"))
            instances = row.get("instances") or []
            kept, dropped, cut, scores = filter_instances(
                instances,
                labels=list(row.get("labels") or []) if is_classification else None,
                max_instances=self.max_instances,
                min_labels=self.min_labels,
                instruction=row.get("instruction") or "",
                checks=self._checks,
            )
            for position, reason in dropped:
                instance = instances[position]
                self.drop(
                    f"{task_key}#{position}",
                    reason,
                    text=instance.get("output"),
                    score=scores.get(position),
                    row=row,
                    stage=Stage.INSTANCE_FILTERS,
                )
            cuts += len(cut)
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
        if cuts and self.store is not None:
            self.store.increment(CUT_COUNTER, cuts)
        yield kept_rows

    def unload(self) -> None:
        if self._labels:
            top = ", ".join(f"{label}={n}" for label, n in self._labels.most_common(10))
            self._logger.info(f"Classification label distribution (top 10): {top}")
        super().unload()
