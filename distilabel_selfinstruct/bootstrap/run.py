"""`BootstrapRun`: the one object the bootstrap loop's steps share.

distilabel's graph has no back edge, so the loop's steps meet in the pool store. What they
must agree on — where the pool lives, the target, the seeds, the stop rule's settings — is
this one pydantic model: `build_pipeline` hands the same instance to every loop step, each
step's YAML carries it, and a step that needs it and lacks it fails at load instead of
quietly opening a pool of its own.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from distilabel_selfinstruct.bootstrap.stop import StopRule, default_round_limit
from distilabel_selfinstruct.pool import (
    PoolStore,
    is_networked,
    open_pool_store,
    split_password,
    sqlite_path,
)
from distilabel_selfinstruct.usage import Prices, Usage, budget_exhausted

if TYPE_CHECKING:
    from distilabel_selfinstruct.seeds import SeedTask

# The pool store's meta entries: what the run was started with (`identity`), and the
# target of its latest invocation.
RUN_IDENTITY = "run_identity"
RUN_TARGET = "target"


class RunMismatchError(ValueError):
    """The pool belongs to a run started with other seeds or settings (one line)."""


class BootstrapRun(BaseModel):
    """Where a Self-Instruct run keeps its pool, what it aims for and when it stops.

    Attributes:
        pool_path: the run's pool store, created if missing: a SQLite file (a path or
            `sqlite:///path`; one machine), or a `postgresql://user@host:port/db` URL (a
            cluster: every step reaches it). A password in the URL is used but kept out of
            the field, and so out of the saved YAML: where the YAML runs, it comes from
            libpq's environment (`PGPASSWORD`, `~/.pgpass`), like an API key.
        num_instructions: finished machine tasks (with instances) the run ends with.
        seeds_path: seed JSONL files (official Self-Instruct format) as the user gave them;
            `None` (or `["bundled"]`) is the set shipped in the package.
        expected_survival: share of accepted tasks expected to finish, until measured.
        in_flight_margin: admit tasks while the expected finished count is below this
            times the target.
        max_rounds: rounds one invocation may generate before it gives up (default: 4
            prompts per wanted task, at least 20 rounds).
        stall_timeout_s: while the generator waits for the tasks in flight, give up after
            this long without any of them finishing or being dropped.
        rouge_threshold: a candidate whose ROUGE-L F to any pool task is above this is not
            novel (paper: 0.7); the scorer and the pool's gate both apply it.
        rouge_tokenizer: `rouge_score` (exactly rouge-score's, drops non-ASCII) or
            `unicode` (also compares non-Latin scripts).
        semantic_threshold: with a `SemanticDedup` step in the loop, a candidate whose
            embedding cosine to any pool task is above this is a near-duplicate; the scorer
            and the pool's gate both apply it (a setting of the filter, not of the pool:
            it may change between invocations).
        max_tokens: stop generating once the run's LLM calls used this many tokens (prompt
            + completion, all stages, all invocations; `usage`); `None`: no budget.
        max_cost: stop generating once they cost this much (USD, at `prompt_price` and
            `completion_price`, which it needs).
        prompt_price: USD per 1M prompt tokens, for the cost in the summary and `max_cost`.
        completion_price: USD per 1M completion tokens.
        output_dir: the run directory (exports, summary, report, distilabel's cache);
            `None`: the pool file's directory (the working directory for a server pool).
        max_in_flight: the generator waits while this many accepted tasks are unfinished
            (`None`: no bound but the target's). With many LLM requests in flight it keeps
            the backlog, and so the staleness of the demonstrations, bounded.
    """

    model_config = ConfigDict(extra="forbid")

    pool_path: str
    num_instructions: int = Field(default=100, gt=0)
    seeds_path: Optional[list[str]] = None
    expected_survival: float = Field(default=0.8, gt=0, le=1)
    in_flight_margin: float = Field(default=1.25, ge=1)
    max_rounds: Optional[int] = Field(default=None, gt=0)
    stall_timeout_s: float = Field(default=900.0, gt=0)
    rouge_threshold: float = Field(default=0.7, ge=0, le=1)
    rouge_tokenizer: Literal["rouge_score", "unicode"] = "rouge_score"
    semantic_threshold: float = Field(default=0.75, ge=-1, le=1)  # filters.semantic's default
    max_in_flight: Optional[int] = Field(default=None, gt=0)
    output_dir: Optional[str] = None
    max_tokens: Optional[int] = Field(default=None, gt=0)
    max_cost: Optional[float] = Field(default=None, gt=0)
    prompt_price: Optional[float] = Field(default=None, ge=0)
    completion_price: Optional[float] = Field(default=None, ge=0)

    # A password the URL carried: in memory only (pickled to the step processes of this
    # run, never dumped).
    _pool_password: Optional[str] = PrivateAttr(default=None)

    def model_post_init(self, __context: Any) -> None:
        if not is_networked(self.pool_path):
            # `sqlite:///path` is its file: everything after compares and opens paths.
            self.pool_path = str(sqlite_path(self.pool_path))
            return
        self.pool_path, password = split_password(self.pool_path)
        if password is not None:
            self._pool_password = password

    @property
    def networked_pool(self) -> bool:
        """Whether the pool is on a server (steps may run on other machines) rather than a
        file on this one."""
        return is_networked(self.pool_path)

    @model_validator(mode="after")
    def _cost_needs_prices(self) -> BootstrapRun:
        if self.max_cost is not None and self.prices() is None:
            raise ValueError("max_cost needs prompt_price and completion_price")
        return self

    def prices(self) -> Optional[Prices]:
        """The price table, when both prices are set."""
        if self.prompt_price is None or self.completion_price is None:
            return None
        return Prices(self.prompt_price, self.completion_price)

    def budget_exhausted(self, counters: dict[str, int]) -> Optional[str]:
        """Why the run's budget stops it (from the pool's counters), or `None`."""
        if self.max_tokens is None and self.max_cost is None:
            return None
        usage = Usage.from_counters(counters)
        return budget_exhausted(usage, self.max_tokens, self.max_cost, self.prices())

    @field_validator("seeds_path", mode="before")
    @classmethod
    def _split_seed_list(cls, value: Any) -> Any:
        # A comma-joined string (the command line's and older YAML's form) is a list.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def open_store(self) -> PoolStore:
        return open_pool_store(self.pool_path, password=self._pool_password)

    def identity(self, seeds: Sequence[SeedTask]) -> dict[str, Any]:
        """What makes a pool this run's: the seed tasks (by content, in order) and the
        novelty rule. The target, the model and the sampling settings may change between
        invocations; these may not (the pool would mix two runs)."""
        text = json.dumps([seed.to_dict() for seed in seeds], sort_keys=True, ensure_ascii=False)
        return {
            "seeds_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "seed_tasks": len(seeds),
            "rouge_threshold": self.rouge_threshold,
            "rouge_tokenizer": self.rouge_tokenizer,
        }

    def claim(
        self,
        store: PoolStore,
        seeds: Sequence[SeedTask],
        *,
        record: bool = True,
        filters: Optional[dict[str, str]] = None,
    ) -> None:
        """Records this run's identity in a new pool (unless `record` is False: a check
        only), or checks it against the one the pool was started with. `filters` (the
        filter steps' settings, `run_directory.filter_settings`) is part of the identity
        where both sides know it: a pool recorded without it (by the generator, or an
        older version) gets it recorded, not refused.

        Raises:
            RunMismatchError: the pool was started with other seeds or settings.
        """
        current = self.identity(seeds)
        if filters is not None:
            current["filters"] = filters
        recorded = store.meta(RUN_IDENTITY)
        if recorded is None:
            if record:
                store.set_meta(RUN_IDENTITY, json.dumps(current, sort_keys=True))
            return
        before = json.loads(recorded)
        if "filters" not in current or "filters" not in before:
            compared = {key: value for key, value in current.items() if key != "filters"}
            if {key: before.get(key) for key in compared} == compared:
                if record and "filters" in current:
                    store.set_meta(RUN_IDENTITY, json.dumps({**before, **current}, sort_keys=True))
                return
        elif before == current:
            return
        changed = [key for key in current if before.get(key) != current[key]]
        if "filters" in changed and changed == ["filters"]:
            steps = sorted(
                name
                for name in set(before["filters"]) | set(current["filters"])
                if before["filters"].get(name) != current["filters"].get(name)
            )
            raise RunMismatchError(
                f"{self.pool_path}: this run was started with other settings of"
                f" {', '.join(steps)} (the filters decide what is accepted); rerun it with"
                " the same settings, or start a new run in another directory"
            )
        changed = [key for key in changed if key != "filters"]
        if "seeds_sha256" in changed:
            what = (
                f"other seed tasks ({before.get('seed_tasks')} then, {len(seeds)} now,"
                " different content)"
            )
        else:
            what = ", ".join(f"{key} {before.get(key)!r} (now {current[key]!r})" for key in changed)
        raise RunMismatchError(
            f"{self.pool_path}: this run was started with {what}; rerun it with the same"
            " settings, or start a new run in another directory"
        )

    def stop_rule(self, batch_size: int) -> StopRule:
        """The rule for rounds of `batch_size` prompts."""
        return StopRule(
            target=self.num_instructions,
            expected_survival=self.expected_survival,
            in_flight_margin=self.in_flight_margin,
            round_limit=self.max_rounds or default_round_limit(self.num_instructions, batch_size),
            max_in_flight=self.max_in_flight,
        )


def require_run(step: Any) -> BootstrapRun:
    """The step's `run`, or a one-line error saying how to give it one."""
    run = getattr(step, "run", None)
    if run is None:
        raise ValueError(
            f"step '{step.name}' ({type(step).__name__}) needs `run`: the BootstrapRun shared"
            " by the loop's steps (build_pipeline passes it; in a hand-built pipeline pass the"
            " same BootstrapRun(pool_path=..., num_instructions=...) to every loop step)"
        )
    return run
