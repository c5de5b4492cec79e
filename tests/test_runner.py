"""The child-process runner's pure parts: runtime parameters and one-line failures."""

from __future__ import annotations

import pytest

from distilabel_selfinstruct.llms import ModelNotFoundError
from distilabel_selfinstruct.runner import describe_failure, parse_parameters
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
