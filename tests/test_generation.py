"""Task defaults fit each client's own generation parameters."""

from distilabel.models.llms import OpenAILLM

from distilabel_selfinstruct.generation import apply_default_generation_kwargs
from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

DEFAULTS = {"max_new_tokens": 2, "temperature": 0.0, "logprobs": 10, "stop": ["\n"], "seed": 3}


def test_openai_gets_a_logprobs_switch_and_top_logprobs() -> None:
    llm = OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    apply_default_generation_kwargs(llm, DEFAULTS)
    assert llm.generation_kwargs == {
        "max_new_tokens": 2,
        "temperature": 0.0,
        "logprobs": True,
        "top_logprobs": 10,
        "stop": ["\n"],
        # distilabel 1.5 drops `stop` for completion prompts (compat.distilabel_openai_stop)
        "extra_body": {"stop": ["\n"]},
    }


def test_llama_cpp_completion_gets_a_count() -> None:
    llm = LlamaCppCompletionLLM()
    apply_default_generation_kwargs(llm, DEFAULTS)
    assert llm.generation_kwargs["logprobs"] == 10
    assert llm.generation_kwargs["stop"] == ["\n"]
    assert "seed" not in llm.generation_kwargs


def test_user_values_win() -> None:
    llm = OpenAILLM(
        model="m",
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        generation_kwargs={"temperature": 0.9, "logprobs": False},
    )
    apply_default_generation_kwargs(llm, DEFAULTS)
    assert llm.generation_kwargs["temperature"] == 0.9
    assert llm.generation_kwargs["logprobs"] is False
    assert "top_logprobs" not in llm.generation_kwargs
