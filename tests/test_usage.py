"""Counted LLM calls and tokens, the price table and the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stop import STOP_REASON
from distilabel_selfinstruct.instructions import GenerateInstructions
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.sampling import SampleDemonstrations
from distilabel_selfinstruct.summary import RunSummary
from distilabel_selfinstruct.testing import ScriptedLLM
from distilabel_selfinstruct.usage import (
    Prices,
    Usage,
    budget_exhausted,
    counter_name,
    rows_usage,
)

ROW = {
    "prompt_id": "r0p0",
    "bootstrap_round": 0,
    "demonstrations": ["Name three colors.", "Sort 3, 1, 2."],
    "demonstration_ids": ["seed_task_0", "seed_task_1"],
}


def test_rows_usage_counts_calls_and_the_steps_own_statistics() -> None:
    rows = [
        {"distilabel_metadata": {"statistics_gen": {"input_tokens": [40], "output_tokens": [7]}}},
        {"distilabel_metadata": {"statistics_gen": {"input_tokens": 10, "output_tokens": 2}}},
        {"distilabel_metadata": {"statistics_other": {"input_tokens": [99]}}},  # another step's
        {"instructions": None},  # a failed request: no statistics
    ]
    assert rows_usage(rows, "gen") == {
        "llm_calls:gen": 2,
        "prompt_tokens:gen": 50,
        "completion_tokens:gen": 9,
    }


def test_usage_from_counters_and_cost() -> None:
    usage = Usage.from_counters(
        {
            "rounds": 3,
            "llm_calls:a": 2,
            "prompt_tokens:a": 1000,
            "completion_tokens:a": 200,
            "llm_calls:b": 1,
            "prompt_tokens:b": 500,
            "llm_errors:b": 1,
        }
    )
    assert set(usage.stages) == {"a", "b"} and usage.total("llm_calls") == 3
    assert usage.tokens == 1700
    assert usage.cost(Prices(prompt=2.0, completion=10.0)) == pytest.approx(0.005)
    assert usage.cost(None) is None


def test_the_budget() -> None:
    usage = Usage.from_counters({"prompt_tokens:a": 900, "completion_tokens:a": 100})
    assert budget_exhausted(usage, 2000, None, None) is None
    assert budget_exhausted(usage, 1000, None, None) == "token budget reached (1000 of 1000 tokens)"
    prices = Prices(prompt=1000.0, completion=1000.0)  # $1 per 1000 tokens
    assert budget_exhausted(usage, None, 0.5, prices) == "cost budget reached ($1.0000 of $0.5000)"


def test_max_cost_without_prices_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_cost needs"):
        BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), max_cost=1.0)


def test_an_llm_step_counts_its_calls_and_tokens_in_the_pool(tmp_path: Path) -> None:
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)
    llm = ScriptedLLM(default_reply="9. Explain tides.\n10. Name a river.")
    task = GenerateInstructions(name="generate_instructions", llm=llm, run=run)
    task.load()
    list(task.process([ROW, {**ROW, "prompt_id": "r0p1"}]))
    task.unload()
    with run.open_store() as store:
        counters = store.counters()
    assert counters[counter_name("llm_calls", "generate_instructions")] == 2
    assert counters[counter_name("prompt_tokens", "generate_instructions")] > 0
    summary = RunSummary.from_store(run.pool_path)
    assert summary.llm_calls_counted and summary.llm_calls == 2
    assert summary.usage["generate_instructions"]["llm_calls"] == 2


def test_the_generator_stops_at_the_budget_and_the_summary_has_the_cost(tmp_path: Path) -> None:
    run = BootstrapRun(
        pool_path=str(tmp_path / "pool.sqlite"),
        num_instructions=3,
        max_tokens=1000,
        prompt_price=1.0,
        completion_price=2.0,
    )
    step = SampleDemonstrations(name="sample", run=run, batch_size=1)
    step.load()
    stream = step.process()
    rows, last = next(stream)
    assert rows and not last
    with run.open_store() as store:
        store.increment_many({"prompt_tokens:g": 900, "completion_tokens:g": 100})
    assert next(stream) == ([], True)
    step.unload()
    with open_pool_store(run.pool_path, create=False) as store:
        reason = store.meta(STOP_REASON)
    assert reason == "stopped at 0 of 3 tasks: token budget reached (1000 of 1000 tokens)"
    summary = RunSummary.from_store(run.pool_path)
    assert summary.cost == pytest.approx((900 * 1.0 + 100 * 2.0) / 1e6)
    assert "cost" in summary.render()
