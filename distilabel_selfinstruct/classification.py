"""Stage 5: is the instruction a classification task?

The answer decides how instances are generated (output-first for classification, so labels
stay balanced). Base models get a few-shot Yes/No prompt whose demonstrations come from the
seed pool; when the LLM returns log-probabilities, " Yes" and " No" are compared instead of
trusting one sampled token.
"""

from __future__ import annotations

import math
import random
import re
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from distilabel.mixins.runtime_parameters import RuntimeParameter
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.generation import apply_default_generation_kwargs
from distilabel_selfinstruct.llm_task import LLMTask
from distilabel_selfinstruct.prompts import as_llm_input, render_prompt
from distilabel_selfinstruct.seeds import SeedTask, load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import FormattedInput

_ANSWER = re.compile(r"^\W*(yes|no|true|false)\b", re.IGNORECASE)


def parse_yes_no(reply: Optional[str]) -> Optional[bool]:
    """`True`/`False` for a reply starting with yes/no (or true/false); `None` otherwise."""
    if not reply:
        return None
    match = _ANSWER.match(reply.strip())
    if not match:
        return None
    return match.group(1).lower() in ("yes", "true")


def yes_probability(top_logprobs: list[list[dict[str, Any]]]) -> Optional[float]:
    """P(yes) / (P(yes) + P(no)) from the first generated token's top alternatives."""
    if not top_logprobs or not top_logprobs[0]:
        return None
    yes = no = 0.0
    for candidate in top_logprobs[0]:
        answer = parse_yes_no(candidate["token"])
        if answer is None:
            continue
        probability = math.exp(candidate["logprob"])
        if answer:
            yes += probability
        else:
            no += probability
    if yes + no == 0.0:
        return None
    return yes / (yes + no)


def pick_demonstrations(seeds: list[SeedTask], count: int, rng: random.Random) -> list[SeedTask]:
    """A balanced few-shot set: half classification tasks (as many as exist), half not."""
    positives = [seed for seed in seeds if seed.is_classification]
    negatives = [seed for seed in seeds if not seed.is_classification]
    take_positive = min(len(positives), count // 2)
    chosen = rng.sample(positives, take_positive) + rng.sample(
        negatives, min(len(negatives), count - take_positive)
    )
    rng.shuffle(chosen)
    return chosen


class IdentifyClassification(LLMTask):
    """Decides whether each instruction is a classification task.

    `completion` style is the paper's few-shot Yes/No prompt for base models, with
    demonstrations drawn (seeded) from the seed tasks; `chat` style asks an instruction-tuned
    model for one word. If the LLM returns top log-probabilities (e.g.
    `LlamaCppCompletionLLM` with `logprobs` in its generation kwargs, the default here),
    `classification_score` is P(Yes) / (P(Yes) + P(No)) of the first token and the decision
    is `score >= decision_threshold`; otherwise the parsed answer decides. A reply that is
    neither yes nor no counts as not classification, with `classification_score` `None`.

    Attributes:
        prompt_style: `completion` or `chat`.
        num_demonstrations: few-shot examples in the prompt (~30 lift a 270M model from
            answering "Yes" to everything to 17/20 on clear cases).
        random_seed: seed for choosing the demonstrations.

    Runtime parameters:
        - `seeds_path`: seed JSONL files; `None` or `["bundled"]` (the default) is the set
            shipped in the package.
        - `decision_threshold`: P(Yes) at or above which a task counts as classification.

    Input columns:
        - instruction (`str`): the instruction to judge.

    Output columns:
        - is_classification (`bool`): the decision.
        - classification_score (`float`): P(Yes) when log-probabilities were available,
            else 1.0 / 0.0 from the parsed answer, `None` for a reply that is neither.
        - model_name (`str`): the model that judged.

    Categories:
        - text-classification

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
        Classify instructions with the default model:

        ```python
        from distilabel_selfinstruct.classification import IdentifyClassification
        from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

        task = IdentifyClassification(llm=LlamaCppCompletionLLM())
        task.load()
        rows = next(task.process([{"instruction": "Is this review positive or negative?"}]))
        ```
    """

    prompt_style: Literal["completion", "chat"] = "completion"
    num_demonstrations: int = 30
    random_seed: int = 42
    seeds_path: Optional[RuntimeParameter[list[str]]] = Field(
        default=None,
        description="Seed JSONL file(s) for the few-shot examples; default: bundled seeds.",
    )
    decision_threshold: RuntimeParameter[float] = Field(
        default=0.5, description="P(Yes) at or above which a task counts as classification."
    )

    default_generation_kwargs: dict[str, Any] = {
        "max_new_tokens": 2,
        "temperature": 0.0,
        "logprobs": 10,
        "stop": ["\n"],
    }
    _examples: list = PrivateAttr(default_factory=list)

    def load(self) -> None:
        super().load()
        apply_default_generation_kwargs(self.llm, self.default_generation_kwargs)
        paths = seed_paths(self.seeds_path)
        seeds = load_seed_tasks(paths)
        self._examples = pick_demonstrations(
            seeds, self.num_demonstrations, random.Random(self.random_seed)
        )

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return ["is_classification", "classification_score", "model_name"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        template = f"classification_{self.prompt_style}"
        prompt = render_prompt(template, examples=self._examples, instruction=input["instruction"])
        return as_llm_input(prompt, self.prompt_style)

    def format_output(
        self, output: Union[str, None], input: Optional[dict[str, Any]] = None
    ) -> dict[str, Any]:
        answer = parse_yes_no(output)
        return {
            "is_classification": bool(answer),
            "classification_score": None if answer is None else float(answer),
        }

    def complete_row(self, row: dict[str, Any], extra: dict[str, Any]) -> None:
        """Where the LLM returned log-probabilities, P(Yes) replaces the parsed answer (and
        they leave the row)."""
        logprobs = extra.pop("logprobs", None)
        if not self.group_generations:
            score = yes_probability(logprobs or [])
            if score is not None:
                row["classification_score"] = score
                row["is_classification"] = score >= self.decision_threshold
            return
        for i, top in enumerate(logprobs or []):  # grouped: one value per generation
            score = yes_probability(top or [])
            if score is not None:
                row["classification_score"][i] = score
                row["is_classification"][i] = score >= self.decision_threshold
