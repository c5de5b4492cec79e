"""Stage 2: instruction generation.

`GenerateInstructions` prompts an LLM with the sampled demonstrations and parses the numbered
list it writes; `SplitInstructions` turns each parsed list into one row per candidate.
"""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Optional, Union

from distilabel.steps import StepInput
from pydantic import PrivateAttr

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters.base import RESUMED, DropRecorder
from distilabel_selfinstruct.generation import apply_default_generation_kwargs
from distilabel_selfinstruct.llm_task import LLMTask
from distilabel_selfinstruct.pool import candidate_id_for
from distilabel_selfinstruct.prompts import render_prompt

if TYPE_CHECKING:
    from distilabel.typing import FormattedInput, StepOutput

PromptStyle = Literal["completion", "chat"]

# "10. ", "10) ", "**10.** "; the delimiter must be followed by space so "1:30" or "2.5 kg"
# inside an item never look like a new item.
_NUMBERED = re.compile(r"^[ \t]*(?:\*\*)?(\d{1,3})[.)](?:\*\*)?(?=\s|$)[ \t]*", re.MULTILINE)
_COMPLETE_ENDING = (".", "?", "!", '"', "'", ")", "]", ":", "`")


@dataclass
class ParsedList:
    """Items of a numbered list reply, and what was left out of it."""

    items: list[str] = field(default_factory=list)
    truncated: int = 0
    empty: int = 0


def parse_numbered_list(
    reply: Optional[str], first_number: Optional[int] = None, complete: bool = False
) -> ParsedList:
    """Parses a numbered-list reply such as `" Do X.\\n10. Do Y.\\n11. Do"`.

    Args:
        reply: the LLM's text.
        first_number: when the prompt ended with `"<n>."`, the text before the first number
            in the reply continues item `n`; otherwise that text is preamble and ignored.
        complete: whether the reply is known to have ended by itself (not by the token
            limit). If not, an unterminated last item is treated as truncated and dropped;
            the complete items before it are kept.
    """
    parsed = ParsedList()
    if not reply or not reply.strip():
        return parsed
    markers = list(_NUMBERED.finditer(reply))
    chunks: list[tuple[Optional[int], str]] = []
    head = reply[: markers[0].start()] if markers else reply
    # An empty head (the model repeated the prompt's number) must not count as item n.
    if first_number is not None and head.strip():
        chunks.append((first_number, head))
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(reply)
        chunks.append((int(marker.group(1)), reply[marker.end() : end]))

    previous: Optional[int] = None
    kept: list[tuple[str, str]] = []
    for number, text in chunks:
        # A number that goes backwards starts a new list: the model has left the task.
        if previous is not None and number is not None and number <= previous:
            break
        previous = number if number is not None else previous
        kept.append((text, text.strip()))
    for position, (raw, text) in enumerate(kept):
        is_last = position == len(kept) - 1
        if not text:
            parsed.empty += 1
            continue
        # Blank lines end an item: whatever follows is commentary, not the instruction.
        text = text.split("\n\n")[0].strip()
        text = " ".join(line.strip() for line in text.splitlines() if line.strip())
        # A newline (or blank line and commentary) after the item proves it ended.
        ended = raw.rstrip(" \t").endswith("\n") or "\n\n" in raw.strip(" \t")
        if is_last and not complete and not ended and not text.endswith(_COMPLETE_ENDING):
            parsed.truncated += 1
            continue
        parsed.items.append(text)
    return parsed


class GenerateInstructions(LLMTask):
    """Asks an LLM for new instructions, given demonstrations from the task pool.

    Two prompt styles: `completion` continues a numbered list of the demonstrations (the
    paper's method, for base models such as the default gemma-3-270m); `chat` asks an
    instruction-tuned model for a numbered list explicitly. Replies are parsed robustly: the
    complete items of a truncated reply are kept, the text is never re-cased, and a reply
    with no list yields an empty list (counted downstream by `SplitInstructions`).

    Attributes:
        prompt_style: `completion` or `chat`.
        instructions_per_prompt: in `chat` style, how many instructions to ask for.

    Input columns:
        - demonstrations (`List[str]`): instructions to show the model.
        - topic (`str`, optional): a topic to steer the new instructions toward.

    Output columns:
        - instructions (`List[str]`): the parsed new instructions.
        - instructions_truncated (`int`): items dropped because the reply was cut off.
        - model_name (`str`): the model that wrote them.
        - instruction_model (`str`): the same, kept on the task record when later LLM
            stages set their own `model_name` (with a `ModelMix`, the mix's choice).

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
        Generate instructions with the default model:

        ```python
        from distilabel_selfinstruct.instructions import GenerateInstructions
        from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

        task = GenerateInstructions(llm=LlamaCppCompletionLLM())
        task.load()
        rows = next(task.process([{"demonstrations": ["Name three colors.", "Sort 3, 1, 2."]}]))
        ```
    """

    prompt_style: PromptStyle = "completion"
    instructions_per_prompt: int = 8
    failed_request_stage: ClassVar[Stage] = Stage.GENERATION

    # The paper sampled with temperature 0.7, top_p 0.5 and presence penalty 2; on the
    # default 270M model, 0.5 frequency/presence penalties stop its list loops (27 of 36
    # items novel, versus 14 of 42 without).
    default_generation_kwargs: dict[str, Any] = {
        "max_new_tokens": 384,
        "temperature": 1.0,
        "top_p": 0.95,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.5,
    }
    # A blank line ends a base model's list; chat models may put blank lines between items.
    completion_stop: list[str] = ["\n\n", "\n20."]

    def load(self) -> None:
        super().load()
        defaults = dict(self.default_generation_kwargs)
        if self.prompt_style == "completion":
            defaults["stop"] = self.completion_stop
        apply_default_generation_kwargs(self.llm, defaults)

    @property
    def inputs(self) -> list[str]:
        return ["demonstrations"]

    @property
    def outputs(self) -> list[str]:
        return ["instructions", "instructions_truncated", "model_name", "instruction_model"]

    def format_input(self, input: dict[str, Any]) -> "FormattedInput":
        demonstrations = list(input["demonstrations"])
        topic = input.get("topic")
        if self.prompt_style == "completion":
            return render_prompt(
                "instructions_completion", demonstrations=demonstrations, topic=topic
            )
        content = render_prompt(
            "instructions_chat",
            demonstrations=demonstrations,
            instructions_per_prompt=self.instructions_per_prompt,
            topic=topic,
        )
        return [{"role": "user", "content": content}]

    def format_output(
        self, output: Union[str, None], input: Optional[dict[str, Any]] = None
    ) -> dict[str, Any]:
        next_number = len(input["demonstrations"]) + 1 if input else None
        first = next_number if self.prompt_style == "completion" else None
        parsed = parse_numbered_list(
            output, first_number=first, complete=bool(self.reply_finished())
        )
        return {"instructions": parsed.items, "instructions_truncated": parsed.truncated}

    def complete_row(self, row: dict[str, Any], extra: dict[str, Any]) -> None:
        # The writer's model, kept on the task record when later stages set `model_name`.
        row["instruction_model"] = row.get("model_name")


class SplitInstructions(DropRecorder):
    """One row per generated instruction, with a stable candidate id.

    A reply that yielded no instruction at all (garbage, or only a truncated item) is counted
    as a drop with reason `unparseable_reply` instead of vanishing silently.

    With `run`, drops go to the run's pool store, and the first batch also carries the tasks
    a killed run had accepted but not finished, with their recorded scores and marked
    `resumed`: they re-enter after admission (no candidate filter checks them again, whatever
    its settings on the rerun), so the resumed run finishes them.

    Attributes:
        run: the run's `BootstrapRun` (optional).

    Input columns:
        - prompt_id (`str`): the prompt that produced the instructions.
        - instructions (`List[str]`): parsed instructions.

    Output columns:
        - candidate_id (`str`): content id of (prompt, position, instruction).
        - instruction (`str`): one instruction.

    Categories:
        - columns
    """

    stage: ClassVar[Stage] = Stage.GENERATION
    _resumed: bool = PrivateAttr(default=False)

    @property
    def inputs(self) -> list[str]:
        return ["prompt_id", "instructions"]

    @property
    def outputs(self) -> list[str]:
        return ["candidate_id", "instruction"]

    def unfinished_rows(self) -> list[dict[str, Any]]:
        """Candidate rows for the accepted-but-unfinished tasks in the pool store."""
        if self.store is None:
            return []
        tasks = self.store.unfinished_tasks()
        if tasks:
            self._logger.info(
                f"Resuming {len(tasks)} accepted tasks a previous run left unfinished"
            )
        return [
            {
                "prompt_id": None,
                "bootstrap_round": task["bootstrap_round"],
                "candidate_id": task["candidate_id"],
                "instruction": task["instruction"],
                "topic": task.get("topic"),
                "instruction_model": task.get("instruction_model"),
                # Admitted already: its recorded scores, and the mark that lets it pass the
                # candidate filters untouched.
                "task_id": task["task_id"],
                "rouge_l_max": task["rouge_l_max"],
                "most_similar_task_id": task["most_similar_task_id"],
                "most_similar_instruction": task["most_similar_instruction"],
                RESUMED: True,
            }
            for task in tasks
        ]

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        rows: list[dict[str, Any]] = []
        if not self._resumed and inputs:
            # distilabel maps output rows back onto input rows, so extra rows need a
            # non-empty batch to ride on.
            rows.extend(self.unfinished_rows())
            self._resumed = True
        for row in inputs:
            instructions = row.get("instructions") or []
            base = {
                key: value
                for key, value in row.items()
                if key not in ("instructions", "demonstrations", "demonstration_ids")
            }
            if not instructions:
                self.drop(row["prompt_id"], Reason.UNPARSEABLE_REPLY, text=None, row=row)
            for position, instruction in enumerate(instructions):
                rows.append(
                    {
                        **base,
                        "candidate_id": candidate_id_for(row["prompt_id"], position, instruction),
                        "instruction": instruction,
                    }
                )
        self.flush_drops()
        yield rows
