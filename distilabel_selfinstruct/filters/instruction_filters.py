"""Stage 3: the paper's heuristic instruction filters.

Each check is a pure function from an instruction to a reason code (or `None`), so the checks
can be tested and reused without a pipeline; `FilterInstructions` applies the enabled ones.
"""

import re
import string
from typing import TYPE_CHECKING, ClassVar, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from pydantic import Field

from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.filters import degenerate
from distilabel_selfinstruct.filters.base import DropRecorder, is_resumed

if TYPE_CHECKING:
    from distilabel.typing import StepOutput

# The paper's blacklist: tasks a text-only model can't do.
DEFAULT_BLACKLIST: tuple[str, ...] = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)


def word_count(text: str) -> int:
    return len(text.split())


def length_reason(text: str, min_words: int, max_words: int) -> Optional[Reason]:
    """Paper: reject instructions of at most 3 words or more than 150."""
    count = word_count(text)
    if count < min_words:
        return Reason.TOO_SHORT
    if count > max_words:
        return Reason.TOO_LONG
    return None


def blacklist_pattern(keywords: list[str]) -> Optional[re.Pattern[str]]:
    """Whole-word, case-insensitive pattern; multi-word keywords match any spacing."""
    parts = [r"\s+".join(map(re.escape, keyword.split())) for keyword in keywords if keyword]
    if not parts:
        return None
    # Look-arounds instead of \b so keywords like "c++" or ".net" match as whole words too.
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def keyword_reason(text: str, pattern: Optional[re.Pattern[str]]) -> Optional[Reason]:
    if pattern is not None and pattern.search(text):
        return Reason.BLACKLISTED_KEYWORD
    return None


def punctuation_reason(text: str) -> Optional[Reason]:
    stripped = text.lstrip()
    if stripped and stripped[0] in string.punctuation:
        return Reason.STARTS_WITH_PUNCTUATION
    return None


def non_ascii_reason(text: str) -> Optional[Reason]:
    stripped = text.lstrip()
    if stripped and not stripped[0].isascii():
        return Reason.STARTS_NON_ASCII
    return None


def markup_reason(text: str) -> Optional[Reason]:
    # Not the paper's: a small model leaves HTML tags in ("Why did <em>Cyril</em> ...").
    if degenerate.markup_found(text):
        return Reason.MARKUP
    return None


def program_reason(text: str) -> Optional[Reason]:
    # The paper drops these: the model can't judge whether generated code is right.
    if text.lstrip().lower().startswith("write a program"):
        return Reason.WRITE_A_PROGRAM
    return None


class FilterInstructions(DropRecorder):
    """Drops instructions that the paper's heuristics reject, with a reason code per drop.

    Checks, in order (each can be switched off): length in words, blacklisted keywords
    (whole words), starting with punctuation, starting with a non-ASCII character, starting
    with "Write a program", and (not the paper's) leftover markup. The word count is
    recorded on every row; the first failing check names the drop reason (`too_short`, `too_long`, `blacklisted_keyword`,
    `starts_with_punctuation`, `starts_non_ascii`, `write_a_program`, `markup`). A task a
    killed run admitted (marked `resumed` by `SplitInstructions`) is not a candidate any more
    and passes unchecked.

    Attributes:
        run: the run's `BootstrapRun`, to record drops in its pool store (optional).
        check_length: whether to apply the word-length bounds.
        check_keywords: whether to apply the keyword blacklist.
        check_punctuation: whether to reject instructions starting with punctuation.
        check_non_ascii: whether to reject instructions starting with a non-ASCII character.
        check_program: whether to reject "Write a program" instructions.
        check_markup: whether to reject instructions with leftover HTML tags or template
            markers, unless the instruction is about markup (`filters.degenerate`).

    Runtime parameters:
        - `min_words`: instructions with fewer words are dropped (paper: 4).
        - `max_words`: instructions with more words are dropped (paper: 150).
        - `blacklist`: keywords that reject an instruction (whole words, any case).
        - `keep_rejected`: keep dropped rows, marked in `instruction_filter_reason`.

    Input columns:
        - instruction (`str`): the candidate instruction.

    Output columns:
        - instruction_words (`int`): its word count.
        - instruction_filter_reason (`str`): `None` for kept rows.

    Categories:
        - filtering

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
        Filter a batch of instructions:

        ```python
        from distilabel_selfinstruct.filters.instruction_filters import FilterInstructions

        step = FilterInstructions()
        step.load()
        kept = next(step.process([{"instruction": "Draw a cat."}, {"instruction": "List three prime numbers below 20."}]))
        ```
    """

    stage: ClassVar[Stage] = Stage.INSTRUCTION_FILTERS
    check_length: bool = True
    check_keywords: bool = True
    check_punctuation: bool = True
    check_non_ascii: bool = True
    check_program: bool = True
    check_markup: bool = True
    min_words: RuntimeParameter[int] = Field(
        default=4,
        description="Drop instructions with fewer words (paper: <= 3 dropped).",
    )
    max_words: RuntimeParameter[int] = Field(
        default=150, description="Drop instructions with more words (paper: 150)."
    )
    blacklist: RuntimeParameter[list[str]] = Field(
        default=list(DEFAULT_BLACKLIST),
        description="Keywords (whole words, any case) that reject an instruction.",
    )
    keep_rejected: RuntimeParameter[bool] = Field(
        default=False,
        description="Keep rejected rows (marked with their reason) instead of dropping them.",
    )

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return ["instruction_words", "instruction_filter_reason"]

    def reason_for(self, text: str, pattern: Optional[re.Pattern[str]]) -> Optional[Reason]:
        """The first failing check's reason code, or `None` if the instruction passes."""
        checks = (
            (
                self.check_length,
                lambda: length_reason(text, self.min_words, self.max_words),
            ),
            (self.check_keywords, lambda: keyword_reason(text, pattern)),
            (self.check_punctuation, lambda: punctuation_reason(text)),
            (self.check_non_ascii, lambda: non_ascii_reason(text)),
            (self.check_program, lambda: program_reason(text)),
            (self.check_markup, lambda: markup_reason(text)),
        )
        for enabled, check in checks:
            if enabled and (reason := check()):
                return reason
        return None

    def process(self, inputs: StepInput) -> "StepOutput":  # type: ignore[override]
        pattern = blacklist_pattern(list(self.blacklist)) if self.check_keywords else None
        kept = []
        for row in inputs:
            if is_resumed(row):
                kept.append(row)  # admitted by an earlier run: not a candidate any more
                continue
            text = row.get("instruction") or ""
            words = word_count(text)
            reason = self.reason_for(text, pattern) if text.strip() else Reason.EMPTY
            if reason is not None:
                self.drop(row.get("candidate_id"), reason, text=text, score=words, row=row)
                if not self.keep_rejected:
                    continue
            kept.append(
                {
                    **row,
                    "instruction_words": words,
                    "instruction_filter_reason": reason and str(reason),
                }
            )
        self.flush_drops()
        yield kept
