"""The end-of-run summary: what was generated, kept and dropped (and why)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from distilabel_selfinstruct.bootstrap.stages import CANDIDATE_STAGES
from distilabel_selfinstruct.bootstrap.stop import STOP_REASON
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.usage import (
    CALLS,
    COMPLETION_TOKENS,
    ERRORS,
    PRICES_META,
    PROMPT_TOKENS,
    Prices,
    Usage,
)

SUMMARY_FILENAME = "summary.json"


def candidate_drop_count(drop_counts: Counter[tuple[str, str]]) -> int:
    """Candidates dropped before the pool (accepted + this = candidates seen)."""
    stages = {str(stage) for stage in CANDIDATE_STAGES}
    return sum(n for (stage, _), n in drop_counts.items() if stage in stages)


def estimated_llm_calls(counters: dict[str, int], accepted: int) -> int:
    """One instruction prompt per round row, then one classification and one instance call
    per accepted instruction."""
    return counters.get("instruction_prompts", 0) + 2 * accepted


def rouge_l_histogram(scores: list[float], width: float = 0.1) -> dict[str, int]:
    """Counts per bin `[k*width, (k+1)*width)`; 1.0 falls in the last bin."""
    bins = round(1 / width)
    counts = [0] * bins
    for score in scores:
        # Multiplying (not dividing) keeps bin edges like 0.7 in the bin they start.
        counts[min(int(score * bins), bins - 1)] += 1
    return {f"{k * width:.1f}-{(k + 1) * width:.1f}": n for k, n in enumerate(counts)}


@dataclass
class RunSummary:
    instructions_generated: int
    instructions_accepted: int
    tasks_finished: int
    target: Optional[int]
    # Accepted = finished + lost (dropped after acceptance) + unfinished (in flight when
    # the run stopped; a resume picks them up, a run that met its target leaves them).
    tasks_lost: int = 0
    tasks_unfinished: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    classification_share: float = 0.0
    instances_per_task: float = 0.0
    label_distribution: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    llm_calls_per_finished_task: Optional[float] = None
    # Whether `llm_calls` was counted by the LLM steps (`usage`) or, for a pool from before
    # they counted, estimated from the rounds and accepted instructions.
    llm_calls_counted: bool = False
    # Per LLM step: calls, prompt_tokens, completion_tokens, llm_errors (failed requests),
    # llm_retries (retried streamed requests).
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    # Retries of streamed requests by reason: rate_limited, server_error, timeout, connection.
    llm_retries: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_finished_task: Optional[float] = None
    tokens_per_accepted_instruction: Optional[float] = None
    # USD, with a price table (`--price-prompt`, `--price-completion`).
    cost: Optional[float] = None
    wall_time_s: Optional[float] = None
    instructions_per_minute: Optional[float] = None
    # Max ROUGE-L of each accepted instruction to the pool, in bins of 0.1 (the paper's
    # Figure 3): "0.3-0.4" -> count.
    rouge_l_histogram: dict[str, int] = field(default_factory=dict)
    # Why the last invocation ended short of the target; `None` when it reached it.
    stop_reason: Optional[str] = None
    # Finished tasks per model that wrote the instruction and, with topic steering, per topic.
    models: dict[str, int] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_store(
        cls,
        pool_path: str | Path,
        target: Optional[int] = None,
        wall_time_s: Optional[float] = None,
        prices: Optional[Prices] = None,
    ) -> RunSummary:
        with open_pool_store(pool_path, create=False) as store:
            state = store.state()
            stop_reason = store.meta(STOP_REASON)
            drop_counts = store.drop_counts()
            accepted = store.count("machine")
            scores = store.rouge_l_scores()
            finished = store.completed()
            counters = store.counters()
            prices = prices or Prices.from_json(store.meta(PRICES_META))
        candidate_drops = candidate_drop_count(drop_counts)
        classification = [task for task in finished if task.get("is_classification")]
        instance_counts = [len(task.get("instances") or []) for task in finished]
        labels: Counter[str] = Counter(
            instance["output"] for task in classification for instance in task["instances"]
        )
        usage = Usage.from_counters(counters)
        counted = bool(usage.stages)
        calls = usage.total(CALLS) if counted else estimated_llm_calls(counters, accepted)
        tokens = usage.tokens
        summary = cls(
            instructions_generated=accepted + candidate_drops,
            instructions_accepted=accepted,
            tasks_finished=len(finished),
            target=target,
            tasks_lost=state.lost,
            tasks_unfinished=state.in_flight,
            drops={f"{stage}/{reason}": n for (stage, reason), n in sorted(drop_counts.items())},
            classification_share=len(classification) / len(finished) if finished else 0.0,
            instances_per_task=sum(instance_counts) / len(finished) if finished else 0.0,
            label_distribution=dict(labels.most_common(20)),
            llm_calls=calls,
            llm_calls_per_finished_task=calls / len(finished) if finished else None,
            llm_calls_counted=counted,
            usage=usage.stages,
            llm_retries=usage.retry_reasons,
            prompt_tokens=usage.total(PROMPT_TOKENS),
            completion_tokens=usage.total(COMPLETION_TOKENS),
            tokens_per_finished_task=tokens / len(finished) if finished and counted else None,
            tokens_per_accepted_instruction=tokens / accepted if accepted and counted else None,
            cost=usage.cost(prices) if counted else None,
            wall_time_s=wall_time_s,
            rouge_l_histogram=rouge_l_histogram(scores),
            stop_reason=stop_reason,
            models=dict(
                Counter(
                    str(task.get("instruction_model") or task.get("model_name"))
                    for task in finished
                ).most_common()
            ),
            topics=dict(
                Counter(task["topic"] for task in finished if task.get("topic")).most_common()
            ),
        )
        if wall_time_s:
            summary.instructions_per_minute = len(finished) / (wall_time_s / 60.0)
        return summary

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        lines = [
            "Self-Instruct run summary",
            f"  instructions generated : {self.instructions_generated}",
            f"  accepted into the pool : {self.instructions_accepted}",
            f"  finished with instances: {self.tasks_finished}"
            + (f" (target {self.target})" if self.target else ""),
            f"  lost / unfinished      : {self.tasks_lost} / {self.tasks_unfinished}",
            f"  classification share   : {self.classification_share:.0%}",
            f"  instances per task     : {self.instances_per_task:.2f}",
            f"  LLM calls              : {self.llm_calls}"
            + (
                f" ({self.llm_calls_per_finished_task:.1f} per finished task)"
                if self.llm_calls_per_finished_task
                else ""
            ),
        ]
        if not self.llm_calls_counted:
            lines[-1] += " (estimated)"
        if self.usage:
            lines.append(
                f"  tokens (prompt+compl.) : {self.prompt_tokens} + {self.completion_tokens}"
                + (
                    f" ({self.tokens_per_finished_task:.0f} per finished task)"
                    if self.tokens_per_finished_task
                    else ""
                )
            )
            errors = sum(stage[ERRORS] for stage in self.usage.values())
            if errors:
                lines.append(f"  failed LLM requests    : {errors}")
        if self.llm_retries:
            reasons = ", ".join(f"{reason} {n}" for reason, n in self.llm_retries.items())
            lines.append(f"  retried LLM requests   : {sum(self.llm_retries.values())} ({reasons})")
        if self.cost is not None:
            lines.append(f"  cost                   : ${self.cost:.4f}")
        if self.stop_reason:
            lines.append(f"  stopped early          : {self.stop_reason}")
        if self.wall_time_s is not None:
            lines.append(f"  wall time              : {self.wall_time_s:.0f} s")
        if self.instructions_per_minute is not None:
            lines.append(f"  finished tasks / minute: {self.instructions_per_minute:.2f}")
        lines.append("  drops (stage/reason):")
        lines.extend(f"    {key:<45} {n}" for key, n in self.drops.items())
        if any(self.rouge_l_histogram.values()):
            bars = "  ".join(f"{key}:{n}" for key, n in self.rouge_l_histogram.items() if n)
            lines.append(f"  max ROUGE-L to the pool (accepted): {bars}")
        if self.label_distribution:
            top = ", ".join(f"{label}={n}" for label, n in self.label_distribution.items())
            lines.append(f"  labels: {top}")
        if self.models:
            lines.append("  models: " + ", ".join(f"{m}={n}" for m, n in self.models.items()))
        if self.topics:
            shown = list(self.topics.items())[:10]
            more = len(self.topics) - len(shown)
            lines.append(
                f"  topics ({len(self.topics)}): "
                + ", ".join(f"{topic}={n}" for topic, n in shown)
                + (f", {more} more" if more > 0 else "")
            )
        return "\n".join(lines)
