"""LLM calls and tokens, counted per stage from what the LLMs report, and what they cost.

The LLM tasks (`llm_task.LLMTask`) count every reply they format: one call, and the prompt
and completion tokens of distilabel's statistics for the step
(`distilabel_metadata["statistics_<step>"]`, which the LLM fills from the server's
`usage`, or llama.cpp's own counts), plus the requests that failed and the retries of
streamed requests (by reason, `concurrency.Retries`): `step_counters` names what to add.
The counts live in the pool store's counters, so they add up across invocations of a run.
`Usage.from_counters` reads them back for the summary and the budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

CALLS = "llm_calls"
PROMPT_TOKENS = "prompt_tokens"
COMPLETION_TOKENS = "completion_tokens"
ERRORS = "llm_errors"
RETRIES = "llm_retries"
KINDS = (CALLS, PROMPT_TOKENS, COMPLETION_TOKENS, ERRORS, RETRIES)
# Run-wide retries by reason (`server_errors`): "llm_retry_reason:rate_limited" -> count.
RETRY_REASON = "llm_retry_reason"
# The pool store's meta entry with the run's price table (JSON), for the summary's cost.
PRICES_META = "prices"


def counter_name(kind: str, step: str) -> str:
    return f"{kind}:{step}"


def _total(value: Any) -> int:
    if isinstance(value, list):
        return sum(int(item) for item in value if item is not None)
    return int(value) if isinstance(value, (int, float)) else 0


def retry_counters(retries: dict[str, int], step: str) -> dict[str, int]:
    """The counters to add for a step's retries by reason."""
    counts = {counter_name(RETRY_REASON, reason): n for reason, n in retries.items() if n}
    if counts:
        counts[counter_name(RETRIES, step)] = sum(retries.values())
    return counts


def rows_usage(rows: list[dict[str, Any]], step: str) -> dict[str, int]:
    """The counters to add for the rows a step made from its LLM's replies."""
    key = f"statistics_{step}"
    counts = dict.fromkeys(KINDS, 0)
    for row in rows:
        statistics = (row.get("distilabel_metadata") or {}).get(key)
        if not isinstance(statistics, dict):
            continue
        counts[CALLS] += 1
        counts[PROMPT_TOKENS] += _total(statistics.get("input_tokens"))
        counts[COMPLETION_TOKENS] += _total(statistics.get("output_tokens"))
    return {counter_name(kind, step): n for kind, n in counts.items() if n}


def step_counters(
    step: str,
    rows: list[dict[str, Any]],
    errors: int = 0,
    retries: Optional[dict[str, int]] = None,
) -> dict[str, int]:
    """Everything an LLM step adds to the run's counters at once: the calls and tokens of
    `rows`, `errors` failed requests and `retries` by reason."""
    counts = rows_usage(rows, step)
    if errors:
        counts[counter_name(ERRORS, step)] = errors
    counts.update(retry_counters(retries or {}, step))
    return counts


@dataclass(frozen=True)
class Prices:
    """USD per 1M prompt and completion tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6

    def to_json(self) -> str:
        return json.dumps({"prompt": self.prompt, "completion": self.completion})

    @classmethod
    def from_json(cls, text: Optional[str]) -> Optional[Prices]:
        if not text:
            return None
        try:
            values = json.loads(text)
            return cls(float(values["prompt"]), float(values["completion"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class Usage:
    """Calls, tokens, failed and retried requests per LLM step; retries by reason."""

    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    retry_reasons: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_counters(cls, counters: dict[str, int]) -> Usage:
        stages: dict[str, dict[str, int]] = {}
        reasons: dict[str, int] = {}
        for name, value in counters.items():
            kind, _, step = name.partition(":")
            if step and kind in KINDS:
                stages.setdefault(step, dict.fromkeys(KINDS, 0))[kind] = value
            elif step and kind == RETRY_REASON:
                reasons[step] = value
        return cls(dict(sorted(stages.items())), dict(sorted(reasons.items())))

    def total(self, kind: str) -> int:
        return sum(stage[kind] for stage in self.stages.values())

    @property
    def tokens(self) -> int:
        return self.total(PROMPT_TOKENS) + self.total(COMPLETION_TOKENS)

    def cost(self, prices: Optional[Prices]) -> Optional[float]:
        if prices is None:
            return None
        return prices.cost(self.total(PROMPT_TOKENS), self.total(COMPLETION_TOKENS))


def budget_exhausted(
    usage: Usage,
    max_tokens: Optional[int],
    max_cost: Optional[float],
    prices: Optional[Prices],
) -> Optional[str]:
    """Why the run must stop for its budget, or `None` while it may go on."""
    if max_tokens is not None and usage.tokens >= max_tokens:
        return f"token budget reached ({usage.tokens} of {max_tokens} tokens)"
    cost = usage.cost(prices)
    if max_cost is not None and cost is not None and cost >= max_cost:
        return f"cost budget reached (${cost:.4f} of ${max_cost:.4f})"
    return None
