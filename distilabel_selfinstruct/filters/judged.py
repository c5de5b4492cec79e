"""Stage 7c (with the judge): keep the instances the LLM judge rated high enough.

`JudgeInstances` scores; this step decides. An instance rated below `min_rating` goes
(`judge_rating`, with the rating's rank as its score); an unrated one (the judge's reply
said nothing readable about it) stays, counted in the pool store's `instances_unrated`; a
task left without instances is dropped (`no_valid_instances`) and lost to the run.
"""

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import DropRecorder
from distilabel_selfinstruct.judge import RATINGS

if TYPE_CHECKING:
    from distilabel.typing import StepOutput

UNRATED_COUNTER = "instances_unrated"


def rating_rank(rating: str) -> int:
    """0 for A (best) to 3 for D."""
    return RATINGS.index(rating)


class FilterJudgedInstances(DropRecorder):
    """Drops the instances the judge rated below `min_rating`, and tasks left with none.

    Attributes:
        run: the run's `BootstrapRun`, to record drops in its pool store (optional).

    Runtime parameters:
        - `min_rating`: the lowest rating kept: `C` (the default) drops only D
            (irrelevant or invalid), `B` keeps A and B, `A` only A; `D` keeps everything
            and only records the ratings.

    Input columns:
        - instances (`List[Dict[str, str]]`): the task's instances.
        - judgements (`List[Dict[str, str]]`): the judge's `{"rating", "rationale"}` per
          instance (`None`: unrated).

    Output columns:
        - instances (`List[Dict[str, str]]`): the kept instances.
        - judgements (`List[Dict[str, str]]`): their judgements, in the same order.

    Categories:
        - filtering
    """

    stage: ClassVar[Stage] = Stage.JUDGE
    min_rating: RuntimeParameter[Literal["A", "B", "C", "D"]] = Field(
        default="C",
        description="The lowest judge rating kept (C drops D; B keeps A and B; D keeps all).",
    )

    @property
    def inputs(self) -> list[str]:
        return ["instances", "judgements"]

    @property
    def outputs(self) -> list[str]:
        return ["instances", "judgements"]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        kept_rows: list[dict[str, Any]] = []
        unrated = 0
        lowest = rating_rank(self.min_rating)
        for row in inputs:
            task_key = row.get("task_id") or row.get("candidate_id")
            instances = row.get("instances") or []
            judgements = list(row.get("judgements") or [])
            judgements += [None] * (len(instances) - len(judgements))
            kept, kept_judgements = [], []
            for position, (instance, judgement) in enumerate(
                zip(instances, judgements, strict=False)
            ):
                if judgement is None:
                    unrated += 1
                elif rating_rank(judgement["rating"]) > lowest:
                    self.drop(
                        f"{task_key}#{position}",
                        Reason.JUDGE_RATING,
                        text=instance.get("output"),
                        score=float(rating_rank(judgement["rating"])),
                        row=row,
                    )
                    continue
                kept.append(instance)
                kept_judgements.append(judgement)
            if not kept:
                self.drop(
                    row.get("candidate_id") or task_key,
                    Reason.NO_VALID_INSTANCES,
                    text=row.get("instruction"),
                    row=row,
                )
                continue
            kept_rows.append({**row, "instances": kept, "judgements": kept_judgements})
        self.flush_drops()
        if unrated and self.store is not None:
            self.store.increment(UNRATED_COUNTER, unrated)
        yield kept_rows
