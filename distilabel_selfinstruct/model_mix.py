"""Several LLMs behind one stage: each prompt goes to one of them, in turn or by weight.

Every model has its own biases; the Self-Instruct handbook lists using several as a way past
the acceptance ceiling. `ModelMix` is a distilabel `LLM` that holds a list of LLMs and sends
each prompt of a batch to one of them (a seeded choice), so a stage keeps one `llm` field
and the YAML one entry. The model that answered each prompt is recorded per row
(`attribute_models`), so the task record and the summary say which model wrote what.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Literal, Optional

from distilabel.models.llms.base import LLM
from pydantic import Field, PrivateAttr, field_validator, model_validator

if TYPE_CHECKING:
    from distilabel.mixins.runtime_parameters import RuntimeParametersNames
    from distilabel.typing import FormattedInput, GenerateOutput


class ModelMix(LLM):
    """Sends each prompt to one of several LLMs, in turn or at random by weight.

    The LLMs must suit the stage's prompt style (all base models for `completion`, all
    chat models for `chat`). Each keeps its own generation kwargs; the stage's defaults
    (`apply_default_generation_kwargs`) are applied to every one of them. A mix answers one
    batch at a time (no streamed requests across its models).

    Attributes:
        llms: the models, at least two.
        policy: `turn` (round-robin over the prompts, in order) or `weight` (each prompt
            drawn at random with `weights`).
        weights: with `weight`, one positive weight per model (default: equal).
        random_seed: seed of the `weight` draw.

    Examples:
        Two models on one OpenAI-compatible server, two prompts in three to the first:

        ```python
        from distilabel.models.llms import OpenAILLM
        from distilabel_selfinstruct.model_mix import ModelMix

        mix = ModelMix(
            llms=[OpenAILLM(model="a", base_url="http://host/v1"),
                  OpenAILLM(model="b", base_url="http://host/v1")],
            policy="weight",
            weights=[2, 1],
        )
        ```
    """

    llms: list[LLM] = Field(default_factory=list)
    policy: Literal["turn", "weight"] = "turn"
    weights: Optional[list[float]] = None
    random_seed: int = 42

    _rng: Optional[random.Random] = PrivateAttr(default=None)
    _turn: int = PrivateAttr(default=0)
    _last_models: list[str] = PrivateAttr(default_factory=list)

    @field_validator("llms", mode="before")
    @classmethod
    def _from_saved_mapping(cls, value: Any) -> Any:
        # distilabel saves a list of models as {"0": ..., "1": ...} (so runtime parameters
        # can be named `llms.0.x`) and loads it back as that mapping.
        if isinstance(value, dict) and all(str(key).isdigit() for key in value):
            return [value[key] for key in sorted(value, key=int)]
        return value

    @model_validator(mode="after")
    def _check(self) -> ModelMix:
        if len(self.llms) < 2:
            raise ValueError("a ModelMix needs at least two llms")
        if self.weights is not None:
            if len(self.weights) != len(self.llms):
                raise ValueError(
                    f"{len(self.weights)} weights for {len(self.llms)} llms: give one per model"
                )
            if any(weight <= 0 for weight in self.weights):
                raise ValueError("every weight must be positive")
        return self

    @property
    def runtime_parameters_names(self) -> RuntimeParametersNames:
        # The models take their own generation kwargs; the mix's `generate` has none.
        names = super().runtime_parameters_names
        names.pop("generation_kwargs", None)
        return names

    @property
    def model_name(self) -> str:
        return "mix(" + ", ".join(llm.model_name for llm in self.llms) + ")"

    @property
    def last_models(self) -> list[str]:
        """The model that answered each prompt of the last `generate` call, in order."""
        return list(self._last_models)

    def load(self) -> None:
        super().load()
        for llm in self.llms:
            llm.load()
        self._rng = random.Random(f"{self.random_seed}:model-mix")
        self._turn = 0

    def unload(self) -> None:
        for llm in self.llms:
            llm.unload()
        super().unload()

    def choose(self, prompts: int) -> list[int]:
        """The model of each of the next `prompts` prompts."""
        if self.policy == "turn":
            chosen = [(self._turn + i) % len(self.llms) for i in range(prompts)]
            self._turn += prompts
            return chosen
        if self._rng is None:
            self._rng = random.Random(f"{self.random_seed}:model-mix")
        weights = self.weights or [1.0] * len(self.llms)
        return self._rng.choices(range(len(self.llms)), weights=weights, k=prompts)

    def generate(  # type: ignore[override]
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        """Each prompt's outputs from its model; the mix's own kwargs go to every model, under
        each model's own generation kwargs."""
        chosen = self.choose(len(inputs))
        outputs: list[Any] = [None] * len(inputs)
        for index, llm in enumerate(self.llms):
            positions = [p for p, model in enumerate(chosen) if model == index]
            if not positions:
                continue
            answers = llm.generate_outputs(
                inputs=[inputs[p] for p in positions],
                num_generations=num_generations,
                **{**kwargs, **llm.get_generation_kwargs()},
            )
            for position, answer in zip(positions, answers, strict=True):
                outputs[position] = answer
        self._last_models = [self.llms[model].model_name for model in chosen]
        return outputs


def mixed_llms(llm: LLM) -> list[LLM]:
    """The LLMs that answer for `llm`: its models for a mix, else itself."""
    return list(llm.llms) if isinstance(llm, ModelMix) else [llm]


def attribute_models(llm: LLM, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of one batch with `model_name` set to the model that answered each (a mix's
    choice; rows map to prompts one to one when each prompt gives one row)."""
    if not isinstance(llm, ModelMix):
        return rows
    models = llm.last_models
    if len(models) != len(rows):
        return rows
    return [{**row, "model_name": model} for row, model in zip(rows, models, strict=True)]
