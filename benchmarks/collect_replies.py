"""Saves real replies of a default-model run as a test fixture.

Runs the Self-Instruct pipeline on the embedded gemma-3-270m (the README's first command,
with a target of N tasks) with one extra leaf step after `generate_instances` that writes
every instance reply as the model sent it: the instruction, whether it was judged a
classification task, the raw text, and whether the reply ended before the token limit.
Tests parse these replies and run the degenerate-output filters on them
(`tests/filters/data/`).

    python -m benchmarks.collect_replies --num-instructions 25 --seed 7 --out replies.jsonl
"""

# (No `from __future__ import annotations`: distilabel reads `StepInput` live.)
import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from distilabel.steps import Step, StepInput
from distilabel.typing import StepOutput

from distilabel_selfinstruct.pipeline import build_pipeline

STEP = "generate_instances"


class RecordReplies(Step):
    """Appends one JSON line per instance reply to `path`."""

    path: str
    max_new_tokens: int = 256

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "is_classification"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        with open(self.path, "a", encoding="utf-8") as out:
            for row in inputs:
                metadata: dict[str, Any] = row.get("distilabel_metadata") or {}
                reply = metadata.get(f"raw_output_{STEP}")
                if reply is None:
                    continue
                tokens = (metadata.get(f"statistics_{STEP}") or {}).get("output_tokens")
                tokens = tokens[0] if isinstance(tokens, list) else tokens
                line = {
                    "task_id": row.get("task_id"),
                    "instruction": row["instruction"],
                    "is_classification": bool(row.get("is_classification")),
                    "prompt_style": "completion",
                    "reply": reply,
                    "finished": None if tokens is None else tokens < self.max_new_tokens,
                }
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        yield []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-instructions", type=int, default=25)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as run_dir:
        pipeline = build_pipeline(
            num_instructions=args.num_instructions, output_dir=run_dir, random_seed=args.seed
        )
        with pipeline:
            recorder = RecordReplies(
                name="record_replies", path=str(Path(args.out).resolve()), input_batch_size=1
            )
            pipeline.dag.get_step(STEP)["step"] >> recorder
        pipeline.run(use_cache=False)


if __name__ == "__main__":
    main()
