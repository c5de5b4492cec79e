"""Run as a script by test_distilabel_log_queue.py: a real distilabel pipeline whose step
leaves the log queue's write lock taken in its worker, as a worker killed mid-write does,
as `argv[1]`: "ours" or "disabled" (our `SelfInstructPipeline`) or "plain" (distilabel's
`Pipeline`). Prints the number of rows once `run()` returns; `argv[2]` is a file created
once the step has taken the lock.

No `from __future__ import annotations`: distilabel finds `StepInput` in the live annotation."""

import logging
import sys
from pathlib import Path

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, Step, StepInput
from distilabel.typing import StepOutput

from distilabel_selfinstruct import SelfInstructPipeline


class TakeTheLogLock(Step):
    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        # The worker's root logger writes to the run's log queue (distilabel's QueueHandler).
        for handler in logging.getLogger().handlers:
            lock = getattr(getattr(handler, "queue", None), "_wlock", None)
            if lock is not None:
                lock.acquire()
                Path(sys.argv[2]).touch()
        yield inputs


def main() -> int:
    cls = Pipeline if sys.argv[1] == "plain" else SelfInstructPipeline
    with cls(name="log-lock") as pipeline:
        LoadDataFromDicts(data=[{"n": n} for n in range(3)]) >> TakeTheLogLock()
    distiset = pipeline.run(use_cache=False)
    print(f"rows: {len(distiset['default']['train'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
