"""The child-process runner's pure parts: runtime parameters and one-line failures."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Optional

import pytest

from distilabel_selfinstruct.llms import ModelNotFoundError
from distilabel_selfinstruct.runner import (
    describe_failure,
    fresh_cache,
    parse_parameters,
    run_pipeline_process,
)
from distilabel_selfinstruct.seeds import SeedFileError


def test_parameters_nest_like_pipeline_run_expects() -> None:
    assert parse_parameters(
        [
            "sample_demonstrations.num_instructions=50",
            "generate_instructions.llm.model_path=/m/x.gguf",
            "generate_instructions.llm.n_ctx=4096",
        ]
    ) == {
        "sample_demonstrations": {"num_instructions": "50"},
        "generate_instructions": {"llm": {"model_path": "/m/x.gguf", "n_ctx": "4096"}},
    }
    assert parse_parameters(["step.text=a=b"]) == {"step": {"text": "a=b"}}


@pytest.mark.parametrize("item", ["no_equals", "nodot=1", ".x=1", "a..b=1"])
def test_malformed_parameters_name_the_item(item: str) -> None:
    with pytest.raises(ValueError, match="expected STEP.NAME=VALUE"):
        parse_parameters([item])


def test_a_parameter_given_as_value_and_as_group_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        parse_parameters(["a.b=1", "a.b.c=2"])


def test_a_load_failure_is_told_by_its_innermost_cause() -> None:
    cause = SeedFileError("gone.jsonl", None, "file not found")
    wrapper = RuntimeError("Failed to load all the steps. Could not run pipeline.")
    wrapper.__cause__ = cause
    assert describe_failure(wrapper) == "a step failed to load: gone.jsonl: file not found"
    model = ModelNotFoundError("this pipeline expects the GGUF 'x.gguf'\nsecond line")
    assert describe_failure(model) == "this pipeline expects the GGUF 'x.gguf'"
    assert describe_failure(KeyError("type_info")) == "KeyError: 'type_info'"
    assert describe_failure(KeyboardInterrupt()) == "KeyboardInterrupt"


def test_only_distilabels_load_wrapper_is_called_a_load_failure() -> None:
    wrapper = RuntimeError("download of the dataset failed")
    wrapper.__cause__ = OSError("connection refused")
    assert describe_failure(wrapper) == "OSError: connection refused"


def test_every_invocation_starts_with_an_empty_distilabel_cache(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cached = run_dir / "cache" / "self-instruct" / "sig" / "executions" / "x" / "pipeline.yaml"
    cached.parent.mkdir(parents=True)
    cached.write_text("pipeline:\n  name: cut sho")  # what a kill mid-write leaves
    (run_dir / ".cache-old-1-2").mkdir()  # set aside by an invocation killed while deleting
    (run_dir / "pool.sqlite").write_bytes(b"the run's state")
    cache = fresh_cache(run_dir)
    assert cache == run_dir / "cache" and not cache.exists()
    assert sorted(p.name for p in run_dir.iterdir()) == ["pool.sqlite"]


def test_a_stop_condition_ends_the_pipeline_process_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stop_when` is polled while the child runs; its message ends the run as failed and
    the child's process group is killed (here a child that would otherwise sleep for 60 s:
    a YAML whose module import blocks)."""
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(60)\n")
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "pipeline:\n  name: p\n  steps:\n  - name: s\n    step:\n      type_info:\n"
        "        module: slow_module\n        name: Nothing\n  connections: []\n"
    )
    polls: list[float] = []

    def stop_when() -> Optional[str]:
        polls.append(time.monotonic())
        return "the LLM server went away" if len(polls) >= 3 else None

    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    started = time.monotonic()
    outcome = run_pipeline_process(
        config, tmp_path / "run", stop_when=stop_when, poll_s=0.2, notice=io.StringIO()
    )
    assert outcome.status == "failed" and outcome.error == "the LLM server went away"
    assert time.monotonic() - started < 30
    assert outcome.returncode is not None and outcome.returncode < 0  # killed
