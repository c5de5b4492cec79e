"""Run as a script by test_distilabel_pipeline_cache.py: a small real pipeline with its
cache in `argv[2]`, as `argv[1]`: "ours" or "disabled" (our `SelfInstructPipeline`) or
"plain" (distilabel's `Pipeline`), run as `distilabel pipeline run --ignore-cache` runs it
(`use_cache=False`). Prints the rows it produced.

No `from __future__ import annotations`: distilabel finds `StepInput` in the live annotation."""

import sys
from pathlib import Path

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, Step, StepInput
from distilabel.typing import StepOutput

from distilabel_selfinstruct import SelfInstructPipeline


class Double(Step):
    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["twice"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        yield [{**row, "twice": 2 * row["n"]} for row in inputs]


def main() -> int:
    cls = Pipeline if sys.argv[1] == "plain" else SelfInstructPipeline
    with cls(name="cached-yaml", cache_dir=Path(sys.argv[2])) as pipeline:
        LoadDataFromDicts(data=[{"n": n} for n in range(4)], batch_size=2) >> Double()
    distiset = pipeline.run(use_cache=False)
    print(f"rows: {len(distiset['default']['train'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
