"""A scripted LLM for testing pipelines built from these steps, without a model.

It replies from a list (or a function of the prompt), so prompt/parser tests and pipeline
tests run in milliseconds and deterministically. It is not a stand-in for a real model in
end-to-end tests.
"""

from __future__ import annotations

import math
import time
from typing import Optional

from distilabel.models.llms.base import LLM
from distilabel.models.llms.utils import prepare_output

# Imported at run time: `validate_call` resolves these annotations.
from distilabel.typing import FormattedInput, GenerateOutput  # noqa: E402
from pydantic import Field, PrivateAttr, validate_call


def _prompt_text(prompt: FormattedInput) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(str(message.get("content", "")) for message in prompt)  # type: ignore[union-attr]


class ScriptedLLM(LLM):
    """Replies with canned texts chosen by the prompt.

    Attributes:
        replies: map from a marker to a list of replies; a prompt gets the next reply of the
            first marker it contains (checked in insertion order), cycling through the list.
        default_reply: the reply for prompts that match no marker.
        yes_logprob: when set and logprobs are asked for, report this log-probability for
            " Yes" (and log(1 - p) for " No") as the first token's alternatives.
        delay_s: seconds to wait per reply, to give tests time to interrupt a run.
        cut_off_markers: replies to prompts containing any of these are reported as cut off
            by the token limit (token count = `max_new_tokens`), like a real truncated reply;
            the others as ended by themselves. `[""]` marks every reply.
        name: the model name it reports (several scripted models in a `ModelMix`).
    """

    replies: dict[str, list[str]] = Field(default_factory=dict)
    default_reply: str = ""
    yes_logprob: Optional[float] = None
    delay_s: float = 0.0
    cut_off_markers: list[str] = Field(default_factory=list)
    name: str = "scripted"
    _calls: dict = PrivateAttr(default_factory=dict)
    _prompts: list = PrivateAttr(default_factory=list)

    def load(self) -> None:
        super().load()

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def prompts(self) -> list[str]:
        """The prompts seen so far, as text."""
        return self._prompts

    def reply_for(self, prompt: FormattedInput) -> str:
        text = _prompt_text(prompt)
        self._prompts.append(text)
        if self.delay_s:
            time.sleep(self.delay_s)
        for marker, options in self.replies.items():
            if marker in text and options:
                count = self._calls.get(marker, 0)
                self._calls[marker] = count + 1
                return options[count % len(options)]
        return self.default_reply

    @validate_call
    def generate(  # type: ignore[override]
        self,
        inputs: list[FormattedInput],
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        stop: Optional[list[str]] = None,
        logprobs: Optional[int] = None,
    ) -> list[GenerateOutput]:
        """Replies from the script; sampling arguments are accepted and ignored."""

        outputs = []
        for prompt in inputs:
            texts = [self.reply_for(prompt) for _ in range(num_generations)]
            text = _prompt_text(prompt)
            cut_off = any(marker in text for marker in self.cut_off_markers)
            token_logprobs = None
            if logprobs and self.yes_logprob is not None:
                p_yes = math.exp(self.yes_logprob)
                first = [
                    {"token": " Yes", "logprob": self.yes_logprob},
                    {"token": " No", "logprob": math.log(max(1e-12, 1 - p_yes))},
                ]
                token_logprobs = [[first] for _ in texts]
            outputs.append(
                prepare_output(
                    texts,
                    input_tokens=[len(_prompt_text(prompt).split())] * num_generations,
                    output_tokens=[
                        max_new_tokens if cut_off else min(len(t.split()), max_new_tokens - 1)
                        for t in texts
                    ],
                    logprobs=token_logprobs,
                )
            )
        return outputs
