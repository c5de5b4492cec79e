"""Stage 7b (optional): an LLM judge rates every instance on the paper's review scale.

The paper's expert review rated each generated instance A (valid and satisfying), B
(acceptable with minor imperfections), C (responds to the instruction but has significant
errors) or D (irrelevant or invalid). `JudgeInstances` asks any distilabel LLM for that
rating and a one-sentence rationale per instance, one request per task; it only scores.
The decision is `filters.judged.FilterJudgedInstances`, after it, against a threshold.

The reply is asked for as JSON. Where the LLM can be held to a schema it is: the embedded
llama.cpp model through a grammar (`LlamaCppCompletionLLM`'s `json_schema`), an
OpenAI-compatible chat server through `response_format` (`structured_output`: the
`json_schema` form of OpenAI, vLLM and llama.cpp's own server, or the `json_object` form of
llama-cpp-python's server). Any other reply is parsed as well as it can be: JSON inside
prose or a code fence, JSON cut off by the token limit, or lines such as
"Example 2: B - the output ...". An instance whose rating cannot be read stays unrated.
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.typing import FormattedInput
from pydantic import Field

from distilabel_selfinstruct.generation import apply_default_generation_kwargs
from distilabel_selfinstruct.llm_task import LLMTask
from distilabel_selfinstruct.prompts import as_llm_input, render_prompt

RATINGS = ("A", "B", "C", "D")
# One entry per instance; the rationale comes first so the model argues before it rates.
JUDGEMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ratings": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "example": {"type": "integer"},
                    "rationale": {"type": "string"},
                    "rating": {"type": "string", "enum": list(RATINGS)},
                },
                "required": ["example", "rationale", "rating"],
            },
        }
    },
    "required": ["ratings"],
}
MAX_RATIONALE_CHARS = 300


@dataclass(frozen=True)
class Judgement:
    """One instance's rating (A-D) and the judge's one-sentence reason."""

    rating: str
    rationale: str

    def to_dict(self) -> dict[str, str]:
        return {"rating": self.rating, "rationale": self.rationale}


def _judgement(rating: Any, rationale: Any) -> "Optional[Judgement]":
    letter = str(rating or "").strip().strip("*\"'.").upper()[:1]
    if letter not in RATINGS:
        return None
    text = " ".join(str(rationale or "").split())[:MAX_RATIONALE_CHARS]
    return Judgement(letter, text)


def _json_objects(reply: str) -> Optional[Any]:
    """The first JSON value in `reply` (inside a code fence or prose), `None` if none parses."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", reply):
        try:
            value, _ = decoder.raw_decode(reply[match.start() :])
        except json.JSONDecodeError:
            continue
        return value
    return None


def _from_json(value: Any, count: int) -> Optional[list[Optional[Judgement]]]:
    entries = value.get("ratings") if isinstance(value, dict) else value
    if isinstance(value, dict) and entries is None and "rating" in value:
        entries = [value]
    if not isinstance(entries, list):
        return None
    judgements: list[Optional[Judgement]] = [None] * count
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        number = entry.get("example")
        index = number - 1 if isinstance(number, int) and 1 <= number <= count else position
        if index < count and judgements[index] is None:
            judgements[index] = _judgement(entry.get("rating"), entry.get("rationale"))
    return judgements


# Pairs left in JSON the token limit cut off: `"rationale": "...", "rating": "B"`.
_PAIR = re.compile(
    r'"rationale"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"rating"\s*:\s*"([ABCD])"'
    r'|"rating"\s*:\s*"([ABCD])"\s*,\s*"rationale"\s*:\s*"((?:[^"\\]|\\.)*)"',
)
# Prose: "Example 2: B - the output is ..." or "Example 2 - Rating: B. Rationale: ...".
_LINE = re.compile(
    r"(?:example|instance)\s*(\d+)\s*[:.)\-–]*\s*(?:\*\*)?\s*(?:rating\s*[:=]?\s*)?\(?([ABCD])\b\)?"
    r"[\s*.:)\-–,]*(?:rationale\s*[:=]\s*)?(.*)",
    re.IGNORECASE,
)
_SINGLE = re.compile(r"\brating\s*[:=]\s*\**\s*\(?([ABCD])\b", re.IGNORECASE)


def parse_judgements(reply: Optional[str], count: int) -> list[Optional[Judgement]]:
    """The judgement of each of `count` instances read from `reply`; `None` where none
    could be read (see the module docstring for what is understood)."""
    empty: list[Optional[Judgement]] = [None] * count
    if not reply or not reply.strip() or count <= 0:
        return empty
    value = _json_objects(reply)
    if value is not None:
        judgements = _from_json(value, count)
        if judgements is not None and any(judgements):
            return judgements
    pairs = list(_PAIR.finditer(reply))
    if pairs:
        judgements = list(empty)
        for position, match in enumerate(pairs[:count]):
            if match.group(1) is not None:
                judgements[position] = _judgement(match.group(2), _unescape(match.group(1)))
            else:
                judgements[position] = _judgement(match.group(3), _unescape(match.group(4)))
        return judgements
    judgements = list(empty)
    for match in _LINE.finditer(reply):
        index = int(match.group(1)) - 1
        if 0 <= index < count and judgements[index] is None:
            judgements[index] = _judgement(match.group(2), match.group(3))
    if not any(judgements) and count == 1 and (single := _SINGLE.search(reply)):
        judgements[0] = _judgement(single.group(1), reply[single.end() :].lstrip(" .:-\n").strip())
    return judgements


def _unescape(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except json.JSONDecodeError:
        return text


class JudgeInstances(LLMTask):
    """Rates every instance of a task A-D with a one-sentence rationale (an LLM judge).

    One request per task shows the instruction and its instances and asks for JSON
    (`JUDGEMENT_SCHEMA`), held to the schema where the LLM allows it (see the module
    docstring); `parse_judgements` reads whatever comes back. The step only scores: the
    threshold is `FilterJudgedInstances`'. Rows keep the generator's `model_name`; the
    judge's is `judge_model`. Use a stronger model than the generator where you can (a
    server model judging the embedded model's output).

    Attributes:
        prompt_style: `completion` (base models) or `chat`.
        structured_output: how a chat server is held to the schema: `json_schema`
            (OpenAI, vLLM, llama.cpp's server), `json_object` (llama-cpp-python's server) or
            `none` (parse the reply as it comes). The embedded llama.cpp model always gets
            a grammar.

    Runtime parameters:
        - `max_rationale_words`: words of rationale asked for per instance.
        - `max_concurrency`: requests in flight at most (async LLMs; see `concurrency`).

    Input columns:
        - instruction (`str`): the task.
        - instances (`List[Dict[str, str]]`): its instances.

    Output columns:
        - judgements (`List[Dict[str, str]]`): per instance, `{"rating", "rationale"}`,
          or `None` where the reply said nothing readable about it.
        - judge_model (`str`): the judge's model.

    Categories:
        - scorer
        - text-generation

    References:
        - [Self-Instruct: Aligning Language Models with Self-Generated Instructions](https://arxiv.org/abs/2212.10560)

    Examples:
        Rate one task's instances with a server model:

        ```python
        from distilabel.models.llms import OpenAILLM
        from distilabel_selfinstruct.judge import JudgeInstances

        judge = JudgeInstances(llm=OpenAILLM(model="gpt-4o-mini"), prompt_style="chat")
        judge.load()
        rows = next(judge.process([{"instruction": "Add the numbers.", "model_name": "gemma",
                                    "instances": [{"input": "2 3", "output": "5"}]}]))
        ```
    """

    prompt_style: Literal["completion", "chat"] = "chat"
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    num_generations: int = 1
    max_rationale_words: RuntimeParameter[int] = Field(
        default=30, description="Words of rationale asked for per instance (one sentence)."
    )

    default_generation_kwargs: dict[str, Any] = {
        "max_new_tokens": 384,
        "temperature": 0.0,
    }

    def load(self) -> None:
        super().load()
        defaults = dict(self.default_generation_kwargs)
        from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

        if isinstance(self.llm, LlamaCppCompletionLLM):
            defaults["json_schema"] = JUDGEMENT_SCHEMA
        elif self.prompt_style == "chat" and self.structured_output == "json_schema":
            defaults["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "instance_ratings", "schema": JUDGEMENT_SCHEMA},
            }
        elif self.prompt_style == "chat" and self.structured_output == "json_object":
            defaults["response_format"] = {"type": "json_object", "schema": JUDGEMENT_SCHEMA}
        apply_default_generation_kwargs(self.llm, defaults)

    @property
    def inputs(self) -> list[str]:
        return ["instruction", "instances"]

    @property
    def outputs(self) -> list[str]:
        return ["judgements", "judge_model", "model_name"]

    def format_input(self, input: dict[str, Any]) -> FormattedInput:
        prompt = render_prompt(
            "judge",
            instruction=input["instruction"],
            instances=input.get("instances") or [],
            completion=self.prompt_style == "completion",
            max_rationale_words=self.max_rationale_words,
        )
        return as_llm_input(prompt, self.prompt_style)

    def format_output(
        self, output: Union[str, None], input: Optional[dict[str, Any]] = None
    ) -> dict[str, Any]:
        count = len((input or {}).get("instances") or [])
        judgements = parse_judgements(output, count)
        return {
            "judgements": [j.to_dict() if j else None for j in judgements],
            "judge_model": self.llm.model_name,
            # The task's model is its generator's: distilabel would set the judge's.
            _GENERATOR_MODEL: (input or {}).get("model_name"),
        }

    def complete_row(self, row: dict[str, Any], extra: dict[str, Any]) -> None:
        if _GENERATOR_MODEL in row:
            row["model_name"] = row.pop(_GENERATOR_MODEL)
        if row.get("judgements") is None:
            # A failed request: every instance unrated.
            row["judgements"] = [None] * len(row.get("instances") or [])


_GENERATOR_MODEL = "_generator_model_name"
