"""LlamaCppCompletionLLM on the real embedded gemma-3-270m (seconds, no network)."""

import math

import pytest

from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def llm() -> LlamaCppCompletionLLM:
    model = LlamaCppCompletionLLM(cpu_lock_path=None)
    model.load()
    return model


def test_plain_prompts_go_to_completion_not_chat(llm: LlamaCppCompletionLLM) -> None:
    (output,) = llm.generate(
        inputs=["1. Name three primary colors.\n2. List two prime numbers.\n3."],
        max_new_tokens=24,
        temperature=0.0,
        stop=["\n"],
    )
    (text,) = output["generations"]
    # The chat fallback of a template-less GGUF answers with llama-2 markup instead.
    assert "[/INST]" not in text and "<<SYS>>" not in text
    assert text.strip()
    assert output["statistics"]["output_tokens"][0] <= 24


def test_first_token_logprobs_rank_the_obvious_answer(llm: LlamaCppCompletionLLM) -> None:
    prompt = "Question: Is water wet? Answer Yes or No.\nAnswer:"
    (output,) = llm.generate(inputs=[prompt], max_new_tokens=1, temperature=0.0, logprobs=5)
    (alternatives,) = output["logprobs"][0]
    assert len(alternatives) == 5
    probabilities = [math.exp(item["logprob"]) for item in alternatives]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
    # The greedy completion is the top-ranked token.
    assert output["generations"][0].strip() == alternatives[0]["token"].strip()


def test_model_path_is_not_dumped_and_defaults_at_load() -> None:
    llm = LlamaCppCompletionLLM()
    assert "model_path" not in llm.dump()
    restored = LlamaCppCompletionLLM.from_dict(llm.dump())
    restored.load()
    assert restored.model_path is not None and restored.model_path.exists()
    assert restored.model_name.endswith(".gguf")
