"""The last token's logits, read through llama-cpp-python's public context pointer, on a fake
model (the real model's test is tests/test_llms.py's e2e
`test_first_token_logprobs_rank_the_obvious_answer`)."""

from __future__ import annotations

import ctypes
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from distilabel_selfinstruct.compat import _guard  # noqa: E402
from distilabel_selfinstruct.compat import llama_cpp as compat  # noqa: E402
from distilabel_selfinstruct.llms import LlamaCppCompletionLLM  # noqa: E402

VOCAB = [b" Yes", b" No", b" Maybe", b"\n"]


class FakeLlama:
    """What `next_token_logprobs` touches of a `llama_cpp.Llama`: the public `ctx`, and no
    private `_ctx`. `eval` stands in for llama.cpp leaving the last token's logits."""

    def __init__(self, logits: list[float]) -> None:
        self.ctx = object()
        self.n_tokens = 0
        self.input_ids: list[int] = []
        self.evaluated: list[int] = []
        self.buffer = (ctypes.c_float * len(logits))(*logits)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return [3] * len(text.split())

    def eval(self, tokens: list[int]) -> None:
        self.evaluated = list(tokens)
        self.input_ids = self.input_ids[: self.n_tokens] + list(tokens)
        self.n_tokens = len(self.input_ids)

    def n_vocab(self) -> int:
        return len(self.buffer)

    def detokenize(self, tokens: list[int]) -> bytes:
        return b"".join(VOCAB[token] for token in tokens)


@pytest.fixture
def logits_of(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replaces the C binding with one that serves the fake model's buffer."""
    calls: list[tuple[Any, int]] = []

    def install(model: FakeLlama, null: bool = False) -> list[tuple[Any, int]]:
        def get_logits_ith(context: Any, index: int) -> Any:
            calls.append((context, index))
            if null:
                return ctypes.POINTER(ctypes.c_float)()
            return ctypes.cast(model.buffer, ctypes.POINTER(ctypes.c_float))

        monkeypatch.setattr(llama_cpp, "llama_get_logits_ith", get_logits_ith)
        return calls

    return install


def test_the_last_tokens_logits_come_from_the_public_context(logits_of: Any) -> None:
    model = FakeLlama([1.0, 2.0, 3.0, 4.0])
    calls = logits_of(model)
    logits = compat.last_token_logits(model)
    assert logits.dtype.name == "float64" and logits.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert calls == [(model.ctx, -1)]


def test_next_token_logprobs_work_without_the_private_context(
    logits_of: Any, tmp_path: Path
) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF not a real model")
    llm = LlamaCppCompletionLLM(model_path=gguf, cpu_lock=False)
    model = FakeLlama([math.log(0.6), math.log(0.3), math.log(0.1), -50.0])
    logits_of(model)
    llm._model = model  # type: ignore[assignment]
    top = llm.next_token_logprobs("Is water wet? Answer:", top_k=2)
    assert [item["token"] for item in top] == [" Yes", " No"]
    assert [math.exp(item["logprob"]) for item in top] == pytest.approx([0.6, 0.3], rel=1e-6)


def test_a_model_without_the_public_context_is_a_clear_error(logits_of: Any) -> None:
    model = FakeLlama([0.0])
    logits_of(model)
    del model.ctx
    with pytest.raises(
        compat.LlamaCppCompatError, match=rf"llama-cpp-python {llama_cpp.__version__} "
    ):
        compat.last_token_logits(model)


def test_a_binding_gone_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(llama_cpp, "llama_get_logits_ith")
    with pytest.raises(compat.LlamaCppCompatError, match="llama_get_logits_ith"):
        compat.last_token_logits(FakeLlama([0.0]))


def test_no_logits_for_the_last_token_is_a_clear_error(logits_of: Any) -> None:
    model = FakeLlama([0.0])
    logits_of(model, null=True)
    with pytest.raises(compat.LlamaCppCompatError, match="kept no logits"):
        compat.last_token_logits(model)


def test_the_installed_llama_cpp_has_what_it_reads() -> None:
    assert isinstance(vars(llama_cpp.Llama).get("ctx"), property)
    assert callable(llama_cpp.llama_get_logits_ith)


@pytest.mark.parametrize(("version", "warns"), [("0.3.36", False), ("0.4.0", True)])
def test_the_version_guard(
    monkeypatch: pytest.MonkeyPatch, logits_of: Any, version: str, warns: bool
) -> None:
    monkeypatch.setattr(llama_cpp, "__version__", version)
    monkeypatch.setattr(_guard, "_warned", set())
    model = FakeLlama([0.0])
    logits_of(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat.last_token_logits(model)
        compat.last_token_logits(model)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == (1 if warns else 0)  # once per process
    if warns:
        assert messages[0].startswith(f"llama-cpp-python {version} is outside >=0.3.16,<0.4")
