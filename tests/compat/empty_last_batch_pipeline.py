"""Run as a script by test_distilabel_batch_manager.py: a real distilabel pipeline whose
filter drops every row of its last batch, as `argv[1]`: "ours" or "disabled" (our
`SelfInstructPipeline`) or "plain" (distilabel's `Pipeline`). Prints the number of rows the
sink received; `argv[2]`, if given, is a file created once the filter has processed the last
row.

No `from __future__ import annotations`: distilabel finds `StepInput` in the live annotation."""

import sys
from pathlib import Path

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, Step, StepInput
from distilabel.typing import StepOutput

from distilabel_selfinstruct import SelfInstructPipeline

ROWS = 6  # batches of 2: [0, 1] [2, 3] [4, 5]; the filter keeps n < KEEP_BELOW
KEEP_BELOW = 4


class DropTheLastBatch(Step):
    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        if len(sys.argv) > 2 and any(row["n"] == ROWS - 1 for row in inputs):
            Path(sys.argv[2]).touch()
        yield [row for row in inputs if row["n"] < KEEP_BELOW]


class Sink(Step):
    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        yield inputs


def main() -> int:
    cls = Pipeline if sys.argv[1] == "plain" else SelfInstructPipeline
    with cls(name="empty-last-batch") as pipeline:
        load = LoadDataFromDicts(data=[{"n": n} for n in range(ROWS)], batch_size=2)
        # Batches of 2 everywhere, so the sink's buffer is empty when the last one comes.
        drop = DropTheLastBatch(input_batch_size=2)
        sink = Sink(input_batch_size=2)
        load >> drop >> sink
    distiset = pipeline.run(use_cache=False)
    print(f"rows: {len(distiset['default']['train'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
