"""ModelMix: several LLMs behind one stage, in turn or by weight, recorded per row."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from distilabel_selfinstruct.instructions import GenerateInstructions
from distilabel_selfinstruct.model_mix import ModelMix
from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
from distilabel_selfinstruct.summary import RunSummary
from distilabel_selfinstruct.testing import ScriptedLLM
from tests.scripted import check_invariants, scripted_llm

pytestmark = pytest.mark.usefixtures("isolated_env")

ROWS = [{"demonstrations": ["Name three colors.", "Sort 3, 1, 2."]}]


def named(name: str, reply: str = " Do X.\n") -> ScriptedLLM:
    return ScriptedLLM(name=name, default_reply=reply)


def test_turn_goes_round_robin_across_batches() -> None:
    mix = ModelMix(llms=[named("a"), named("b"), named("c")])
    mix.load()
    assert mix.choose(2) + mix.choose(4) == [0, 1, 2, 0, 1, 2]


def test_weight_is_seeded_and_follows_the_weights() -> None:
    def draws(seed: int) -> list[int]:
        mix = ModelMix(
            llms=[named("a"), named("b")], policy="weight", weights=[3, 1], random_seed=seed
        )
        mix.load()
        return mix.choose(4000)

    first = draws(7)
    assert first == draws(7) and first != draws(8)
    assert 0.72 < Counter(first)[0] / 4000 < 0.78


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"llms": [ScriptedLLM()]}, "at least two llms"),
        ({"llms": [ScriptedLLM(), ScriptedLLM()], "weights": [1]}, "1 weights for 2 llms"),
        ({"llms": [ScriptedLLM(), ScriptedLLM()], "weights": [1, 0]}, "must be positive"),
    ],
)
def test_a_bad_mix_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelMix(**kwargs)


def test_each_row_names_the_model_that_wrote_it_and_defaults_reach_every_model() -> None:
    task = GenerateInstructions(
        llm=ModelMix(llms=[named("a", " Do A.\n"), named("b", " Do B.\n")]),
        prompt_style="completion",
    )
    task.load()
    rows = next(task.process(ROWS * 4))
    assert [row["model_name"] for row in rows] == ["a", "b", "a", "b"]
    assert [row["instruction_model"] for row in rows] == ["a", "b", "a", "b"]
    assert [row["instructions"] for row in rows] == [["Do A."], ["Do B."]] * 2
    for model in task.llm.llms:
        assert model.generation_kwargs["max_new_tokens"] == 384
        assert model.generation_kwargs["stop"] == ["\n\n", "\n20."]


def test_a_mix_runs_in_the_pipeline_from_its_yaml_and_the_summary_counts_models(
    tmp_path: Path,
) -> None:
    from distilabel.pipeline import Pipeline

    first, second = scripted_llm(), scripted_llm()
    first.name, second.name = "model-a", "model-b"
    pipeline = build_pipeline(
        llm=scripted_llm(),
        instruction_llm=ModelMix(llms=[first, second]),
        prompt_style="completion",
        num_instructions=6,
        output_dir=tmp_path / "run",
        name="t-mix",
    )
    config = tmp_path / "pipeline.yaml"
    pipeline.save(str(config), format="yaml")
    assert "distilabel_selfinstruct.model_mix" in config.read_text()
    Pipeline.from_yaml(config).run(use_cache=False)
    finished = check_invariants(tmp_path / "run", 6)
    assert {task["instruction_model"] for task in finished} <= {"model-a", "model-b"}
    summary = RunSummary.from_store(pool_path_for(tmp_path / "run"))
    assert sum(summary.models.values()) == 6
    assert set(summary.models) <= {"model-a", "model-b"}
    assert "models: " in summary.render()
