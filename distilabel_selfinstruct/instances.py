"""Stage 6: instance generation.

Classification tasks are generated output-first (class label, then an input for it), so the
labels are chosen before the inputs and stay balanced; other tasks input-first (input, or
`<noinput>`, then output).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from distilabel.mixins.runtime_parameters import RuntimeParameter
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.generation import apply_default_generation_kwargs
from distilabel_selfinstruct.llm_task import LLMTask
from distilabel_selfinstruct.prompts import as_llm_input, render_prompt
from distilabel_selfinstruct.seeds import SeedTask, load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import FormattedInput

NO_INPUT = "<noinput>"
# Line-start field markers; chat models add markdown ("**Input:**", "### Example 2", "1. ").
_DECOR = r"[ \t]*(?:[-*#>]+[ \t]*|\d{1,2}[.)][ \t]+)?(?:\*\*|__)?[ \t]*"
_CLOSE = r"[ \t]*(?:\*\*|__)?[ \t]*:(?:\*\*|__)?"
_FLAGS = re.MULTILINE | re.IGNORECASE
_EXAMPLE = re.compile(
    r"^" + _DECOR + r"Example[ \t]*\d+[ \t]*(?:\*\*|__)?[ \t]*:?(?:\*\*|__)?[ \t]*$", _FLAGS
)
_INPUT = re.compile(r"^" + _DECOR + r"Input" + _CLOSE, _FLAGS)
_OUTPUT = re.compile(r"^" + _DECOR + r"Output" + _CLOSE, _FLAGS)
_LABEL = re.compile(r"^" + _DECOR + r"Class[ \t]*label" + _CLOSE, _FLAGS)
_NEXT_TASK = re.compile(r"^\s*Task\s*:", re.MULTILINE | re.IGNORECASE)


@dataclass
class ParsedInstances:
    instances: list[dict[str, str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    incomplete: int = 0


def _clean_input(text: str) -> str:
    """Stripped text, with the `<noinput>` marker (and its variants) as empty."""
    text = text.strip()
    return "" if text.lower() in (NO_INPUT, "none", "n/a", "") else text


def _looks_cut_off(reply: str, block: str) -> bool:
    """Whether the reply's last block was cut by the token limit rather than ended."""
    if reply.endswith("\n"):
        return False
    return not block.rstrip().endswith((".", "?", "!", '"', "'", ")", "]", "`", ">"))


def _last_block_cut(complete: Optional[bool], reply: str, block: str, blocks: int) -> bool:
    if complete is not None:
        return not complete
    # Unknown: judge by the ending, but never drop the only block on a guess.
    return blocks > 1 and _looks_cut_off(reply, block)


def _cut_at_next_task(reply: str) -> str:
    # Base models often carry on with a new "Task:" of their own; that is not ours.
    match = _NEXT_TASK.search(reply)
    return reply[: match.start()] if match else reply


def parse_input_first(
    reply: Optional[str], prefilled: bool, complete: Optional[bool] = None
) -> ParsedInstances:
    """Parses `Example N / Input: ... / Output: ...` blocks.

    Args:
        reply: the LLM's text.
        prefilled: the prompt ended with `Example 1\\nInput:`, so the reply starts inside the
            first input.
    """
    parsed = ParsedInstances()
    if not reply or not reply.strip():
        return parsed
    text = _cut_at_next_task(("Input:" + reply) if prefilled else reply)
    if _EXAMPLE.search(text):
        blocks = [block for block in _EXAMPLE.split(text) if block.strip()]
    else:
        # No "Example N" headers: each "Input:" starts an instance (and ends the previous
        # output).
        starts = [match.start() for match in _INPUT.finditer(text)] or [0]
        starts[0] = 0
        blocks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
        blocks = [block for block in blocks if block.strip()]
    for position, block in enumerate(blocks):
        if position == len(blocks) - 1 and _last_block_cut(complete, text, block, len(blocks)):
            parsed.incomplete += 1
            continue
        input_match = _INPUT.search(block)
        output_match = _OUTPUT.search(block)
        if output_match is None or (input_match and input_match.start() > output_match.start()):
            parsed.incomplete += 1
            continue
        input_text = block[input_match.end() : output_match.start()] if input_match else ""
        output_text = block[output_match.end() :].strip()
        # "<noinput>" as an output is the model echoing the marker: no answer at all.
        output_text = "" if output_text.lower() == NO_INPUT else output_text
        parsed.instances.append({"input": _clean_input(input_text), "output": output_text})
    return parsed


def parse_output_first(
    reply: Optional[str], prefilled: bool, complete: Optional[bool] = None
) -> ParsedInstances:
    """Parses `Class label: ... / Input: ...` blocks; each instance's output is its label.

    Args:
        reply: the LLM's text.
        prefilled: the prompt ended with `Class label:`, so the reply starts with a label.
        complete: as for `parse_input_first`.
    """
    parsed = ParsedInstances()
    if not reply or not reply.strip():
        return parsed
    text = _cut_at_next_task(("Class label:" + reply) if prefilled else reply)
    starts = [match for match in _LABEL.finditer(text)]
    for position, match in enumerate(starts):
        end = starts[position + 1].start() if position + 1 < len(starts) else len(text)
        block = text[match.end() : end]
        if position == len(starts) - 1 and _last_block_cut(complete, text, block, len(starts)):
            parsed.incomplete += 1
            continue
        input_match = _INPUT.search(block)
        if input_match is None:
            parsed.incomplete += 1
            continue
        label = block[: input_match.start()].strip()
        if not label:
            parsed.incomplete += 1
            continue
        parsed.instances.append(
            {"input": _clean_input(block[input_match.end() :]), "output": label}
        )
        if label not in parsed.labels:
            parsed.labels.append(label)
    return parsed


class GenerateInstances(LLMTask):
    """Writes input/output instances for each instruction.

    Classification tasks are prompted output-first (labels, then an input per label), the
    rest input-first. Few-shot demonstrations of the same kind come from the seed tasks,
    chosen with a `random.Random` seeded by the step's seed and the task id, so reruns
    build the same prompt.

    Attributes:
        prompt_style: `completion` (continue a few-shot document; base models) or `chat`.
        num_examples: seed tasks shown as demonstrations per prompt.
        random_seed: seed for choosing demonstrations.

    Runtime parameters:
        - `seeds_path`: seed JSONL files; `None` or `["bundled"]` (the default) is the set
            shipped in the package.
        - `num_instances`: instances to ask for in `chat` style (the filter keeps at most this
            many).

    Input columns:
        - instruction (`str`): the task.
        - is_classification (`bool`): selects output-first generation.

    Output columns:
        - instances (`List[Dict[str, str]]`): `{"input", "output"}` pairs; for classification
            tasks the output is the class label.
        - labels (`List[str]`): the class labels generated (empty for other tasks).
        - instances_incomplete (`int`): blocks dropped because they were cut off or malformed.
        - model_name (`str`): the model that wrote them.

    Categories:
        - text-generation

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
        Generate instances with the default model:

        ```python
        from distilabel_selfinstruct.instances import GenerateInstances
        from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

        task = GenerateInstances(llm=LlamaCppCompletionLLM())
        task.load()
        rows = next(task.process([{"instruction": "Name the capital of a country.", "is_classification": False}]))
        ```
    """

    prompt_style: Literal["completion", "chat"] = "completion"
    num_examples: int = 3
    random_seed: int = 42
    seeds_path: Optional[RuntimeParameter[list[str]]] = Field(
        default=None,
        description="Seed JSONL file(s) for demonstrations; default: the bundled seeds.",
    )
    num_instances: RuntimeParameter[int] = Field(
        default=5, description="Instances to ask for per task (paper: up to 5)."
    )

    default_generation_kwargs: dict[str, Any] = {
        "max_new_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "frequency_penalty": 0.2,
        "stop": ["\nTask:", "Task:", "\n\n\n"],
    }
    _seeds: list = PrivateAttr(default_factory=list)

    def load(self) -> None:
        super().load()
        apply_default_generation_kwargs(self.llm, self.default_generation_kwargs)
        paths = seed_paths(self.seeds_path)
        self._seeds = load_seed_tasks(paths)

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "is_classification"]

    @property
    def outputs(self) -> list[str]:
        return ["instances", "labels", "instances_incomplete", "model_name"]

    def examples_for(self, instruction: str, is_classification: bool) -> list[SeedTask]:
        pool = [
            seed
            for seed in self._seeds
            if seed.is_classification == is_classification and seed.instances
        ] or [seed for seed in self._seeds if seed.instances]
        rng = random.Random(f"{self.random_seed}:{instruction}")
        return rng.sample(pool, min(self.num_examples, len(pool)))

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        is_classification = bool(input.get("is_classification"))
        order = "output_first" if is_classification else "input_first"
        prompt = render_prompt(
            f"instances_{order}_{self.prompt_style}",
            examples=self.examples_for(input["instruction"], is_classification),
            instruction=input["instruction"],
            num_instances=self.num_instances,
        )
        return as_llm_input(prompt, self.prompt_style)

    def format_output(
        self, output: Union[str, None], input: Optional[dict[str, Any]] = None
    ) -> dict[str, Any]:
        prefilled = self.prompt_style == "completion"
        complete = self.reply_finished()
        if input is not None and input.get("is_classification"):
            parsed = parse_output_first(output, prefilled=prefilled, complete=complete)
        else:
            parsed = parse_input_first(output, prefilled=prefilled, complete=complete)
        return {
            "instances": parsed.instances,
            "labels": parsed.labels,
            "instances_incomplete": parsed.incomplete,
        }
