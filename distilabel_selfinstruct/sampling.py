"""Stage 1: seed loading and task-pool sampling.

`SampleDemonstrations` is the generator that drives the bootstrap loop: before each round it
reads the pool (seeds + machine tasks accepted so far), samples demonstrations for each prompt
(by default 6 human + 2 machine, the paper's mix), and ends the stream when the run's stop
rule says the target is met (or that it cannot be).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import GeneratorStep
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.bootstrap.run import RUN_TARGET, BootstrapRun, require_run
from distilabel_selfinstruct.bootstrap.stop import (
    BUDGET_SPENT,
    LLM_FAILURE,
    STOP_REASON,
    Decision,
)
from distilabel_selfinstruct.loop_pipeline import JoinsLoopPipeline
from distilabel_selfinstruct.pool import PoolState, PoolStore
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths
from distilabel_selfinstruct.topics import TopicPolicy, load_topics
from distilabel_selfinstruct.usage import PRICES_META

if TYPE_CHECKING:
    from distilabel.typing import GeneratorStepOutput


def task_kind(instruction: str) -> str:
    """The kind of task an instruction is, for diverse sampling: its leading verb ("write",
    "classify", ...), `be` for "What is ..."-style questions, `other` when there is none."""
    # Here, not at the top: the report package imports the pipeline, which imports this.
    from distilabel_selfinstruct.report.verbs import verb_and_object

    verb, _ = verb_and_object(instruction)
    return verb or "other"


def recency_weights(count: int, recency_bias: float) -> list[float]:
    """Draw weights of `count` machine tasks in pool order: the one `k` places from the
    newest weighs `exp(-recency_bias * k / count)` (all 1.0 without a bias)."""
    return [math.exp(-recency_bias * (count - 1 - i) / count) for i in range(count)]


def sample_diverse_demonstrations(
    rng: random.Random,
    human: list[dict[str, Any]],
    machine: list[dict[str, Any]],
    num_demonstrations: int,
    num_machine: int,
    recency_bias: float = 0.0,
    kind: Callable[[dict[str, Any]], str] = lambda task: task_kind(task["instruction"]),
) -> list[dict[str, Any]]:
    """Like `sample_demonstrations`, but the demonstrations of a prompt span kinds of task.

    Human seeds: kinds are drawn uniformly (not tasks: a rare kind is as likely as a common
    one), each at most once until every kind was used, and a task is drawn within each.
    Machine tasks: drawn as in `sample_demonstrations` (recency bias included), skipping
    those of a kind already in the prompt while others remain.
    """
    take_machine = min(num_machine, len(machine), num_demonstrations)
    chosen_machine: list[dict[str, Any]] = []
    if take_machine:
        indices = list(range(len(machine)))
        weights = recency_weights(len(machine), recency_bias)
        used: set[str] = set()
        for _ in range(take_machine):
            fresh = [p for p, i in enumerate(indices) if kind(machine[i]) not in used]
            pool = fresh or list(range(len(indices)))
            (pick,) = rng.choices(pool, weights=[weights[p] for p in pool], k=1)
            task = machine[indices.pop(pick)]
            weights.pop(pick)
            used.add(kind(task))
            chosen_machine.append(task)
    remaining: dict[str, list[dict[str, Any]]] = {}
    for task in human:
        remaining.setdefault(kind(task), []).append(task)
    take_human = min(num_demonstrations - take_machine, len(human))
    # Kinds not yet in the prompt come first; the machine tasks' kinds count as present.
    present = {kind(task) for task in chosen_machine}
    chosen_human: list[dict[str, Any]] = []
    while len(chosen_human) < take_human:
        names = sorted(name for name, tasks in remaining.items() if tasks)
        fresh = [name for name in names if name not in present]
        name = rng.choice(fresh or names)
        tasks = remaining[name]
        chosen_human.append(tasks.pop(rng.randrange(len(tasks))))
        present.add(name)
    demonstrations = chosen_human + chosen_machine
    rng.shuffle(demonstrations)
    return demonstrations


def sample_demonstrations(
    rng: random.Random,
    human: list[dict[str, Any]],
    machine: list[dict[str, Any]],
    num_demonstrations: int,
    num_machine: int,
    recency_bias: float = 0.0,
) -> list[dict[str, Any]]:
    """Draws up to `num_machine` machine tasks and fills the rest with human seeds.

    With `recency_bias` > 0 a machine task `k` places from the newest is drawn with weight
    `exp(-recency_bias * k / len(machine))`, favouring what was accepted lately.
    """
    take_machine = min(num_machine, len(machine), num_demonstrations)
    if take_machine and recency_bias > 0:
        weights = recency_weights(len(machine), recency_bias)
        chosen: list[dict[str, Any]] = []
        indices = list(range(len(machine)))
        for _ in range(take_machine):
            (pick,) = rng.choices(range(len(indices)), weights=weights, k=1)
            chosen.append(machine[indices.pop(pick)])
            weights.pop(pick)
    else:
        chosen = rng.sample(machine, take_machine)
    take_human = min(num_demonstrations - take_machine, len(human))
    demonstrations = rng.sample(human, take_human) + chosen
    rng.shuffle(demonstrations)
    return demonstrations


class SampleDemonstrations(JoinsLoopPipeline, GeneratorStep):
    """Samples demonstrations from the growing task pool, round after round.

    Each batch is one bootstrap round of `batch_size` prompts. Before a round the step reads
    the pool store, so tasks that `RougeLFilter` accepted during earlier rounds become
    demonstrations, and asks the run's stop rule what to do: generate a round; wait (with
    enough tasks in flight to reach the target, it yields empty batches every
    `heartbeat_s` until they finish or drop, so it still hears a stop request); or end the
    stream — when the pool holds `num_instructions` finished tasks, after the run's
    `max_rounds` rounds once the tasks in flight have finished or dropped, when its token
    or cost budget is spent (`max_tokens`, `max_cost`; checked before each round and while
    waiting, so only requests already in flight go past it), or when the tasks in flight
    made no progress for `stall_timeout_s`. One
    `Pipeline.run()` thus ends with exactly the target, or with the reason it could not in
    the log and in the pool store's `stop_reason`.

    Attributes:
        run: the run's `BootstrapRun` (pool store, target, seeds, stop settings); required.
        num_demonstrations: demonstrations per prompt (paper: 8).
        num_machine_demonstrations: how many of them may be machine tasks (paper: 2).
        recency_bias: 0 samples machine tasks uniformly; larger values favour recent ones.
        demonstration_sampling: `random` (the paper's: uniform, with `recency_bias`) or
            `diverse`: a prompt's demonstrations span kinds of task, by leading verb
            (`sample_diverse_demonstrations`).
        topics_path: a topic file (one topic per line, or a YAML taxonomy; see `topics`):
            each prompt is steered toward a topic, drawn favouring the topics with fewer
            tasks in the pool; the topic rides on the row to the finished task.
        random_seed: seed of the step's `random.Random`; each round reseeds from it and the
            round number, so a round's sampling depends only on the seed and the pool it
            reads (which machine tasks the pool holds then depends on how far the pipeline's
            other steps have got).
        poll_s: how often to read the pool while waiting.
        heartbeat_s: how often to yield an empty batch while waiting; after a heartbeat
            with no progress in the pool the next one waits twice as long, up to
            `max_heartbeat_s` (each heartbeat costs distilabel's main process a batch per
            step: at a fixed 0.2 s they took half a core from a slow server's run).
        max_heartbeat_s: the longest wait between heartbeats.

    Runtime parameters:
        - `batch_size`: prompts per round.

    Output columns:
        - prompt_id (`str`): identifies the prompt (round and position).
        - bootstrap_round (`int`): the round the prompt belongs to.
        - demonstrations (`List[str]`): the sampled instructions, shuffled.
        - demonstration_ids (`List[str]`): their task ids.
        - topic (`str`): the prompt's topic (`None` without `topics_path`).

    Categories:
        - load

    References:
        - [Self-Instruct: Aligning Language Models with Self-Generated Instructions](https://arxiv.org/abs/2212.10560)

    Citations:
        ```
        @misc{wang2022selfinstruct,
            title={Self-Instruct: Aligning Language Models with Self-Generated Instructions},
            author={Yizhong Wang and Yeganeh Kordi and Swaroop Mishra and Alisa Liu and Noah A. Smith and Daniel Khashabi and Hannaneh Hajishirzi},
            year={2022},
            eprint={2212.10560},
            archivePrefix={arXiv},
        }
        ```

    Examples:
        Sample demonstrations for three rounds:

        ```python
        from distilabel_selfinstruct.sampling import SampleDemonstrations

        from distilabel_selfinstruct.bootstrap.run import BootstrapRun

        run = BootstrapRun(pool_path="out/pool.sqlite", num_instructions=10)
        step = SampleDemonstrations(run=run, batch_size=2)
        step.load()
        rows, last = next(step.process())
        ```
    """

    run: Optional[BootstrapRun] = None
    batch_size: RuntimeParameter[int] = Field(default=4, description="Prompts per bootstrap round.")
    num_demonstrations: int = 8
    num_machine_demonstrations: int = 2
    recency_bias: float = 0.0
    demonstration_sampling: Literal["random", "diverse"] = "random"
    topics_path: Optional[str] = None
    random_seed: int = 42
    poll_s: float = 0.5
    heartbeat_s: float = 2.0
    max_heartbeat_s: float = 2.0

    _store: Optional[PoolStore] = PrivateAttr(default=None)
    _human: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _machine: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _read_through: int = PrivateAttr(default=0)
    _topics: Optional[TopicPolicy] = PrivateAttr(default=None)
    _kinds: dict = PrivateAttr(default_factory=dict)

    @property
    def outputs(self) -> list[str]:
        return ["prompt_id", "bootstrap_round", "demonstrations", "demonstration_ids", "topic"]

    def load(self) -> None:
        super().load()
        run = require_run(self)
        # Before the pool is opened: a bad topic file changes nothing.
        self._topics = TopicPolicy(load_topics(self.topics_path)) if self.topics_path else None
        seeds = load_seed_tasks(seed_paths(run.seeds_path))
        self._store = run.open_store()
        run.claim(self._store, seeds)  # a pool of another run is refused, not merged into
        added = self._store.add_seeds(seeds)
        self._logger.info(
            f"Pool at '{run.pool_path}': {self._store.count('seed')} seed tasks"
            f" ({added} new), {self._store.count('machine')} machine tasks."
        )

    def unload(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()

    def build_round(self, round_number: int) -> list[dict[str, Any]]:
        assert self._store is not None
        # The pool only grows: read what was added since the last round.
        for task in self._store.tasks(after_seq=self._read_through):
            (self._human if task["origin"] == "seed" else self._machine).append(task)
            self._read_through = task["seq"]
        human, machine = self._human, self._machine
        rng = random.Random(f"{self.random_seed}:{round_number}")
        topics: list[Optional[str]] = [None] * self.batch_size
        if self._topics is not None:
            topics = list(self._topics.choose(rng, self._store.topic_counts(), self.batch_size))
        rows = []
        for position in range(self.batch_size):
            if self.demonstration_sampling == "diverse":
                chosen = sample_diverse_demonstrations(
                    rng,
                    human,
                    machine,
                    self.num_demonstrations,
                    self.num_machine_demonstrations,
                    self.recency_bias,
                    kind=self._kind,
                )
            else:
                chosen = sample_demonstrations(
                    rng,
                    human,
                    machine,
                    self.num_demonstrations,
                    self.num_machine_demonstrations,
                    self.recency_bias,
                )
            rows.append(
                {
                    "prompt_id": f"r{round_number}p{position}",
                    "bootstrap_round": round_number,
                    "demonstrations": [task["instruction"] for task in chosen],
                    "demonstration_ids": [task["task_id"] for task in chosen],
                    "topic": topics[position],
                }
            )
        return rows

    def _kind(self, task: dict[str, Any]) -> str:
        """A pool task's kind, parsed once per task."""
        kind = self._kinds.get(task["task_id"])
        if kind is None:
            kind = self._kinds[task["task_id"]] = task_kind(task["instruction"])
        return kind

    def process(self, offset: int = 0) -> GeneratorStepOutput:  # type: ignore[override]
        """Yields one round per batch until the stop rule ends the stream.

        Args:
            offset: distilabel's resume offset; rounds are numbered from it so a resumed
                run continues the numbering.
        """
        store, run = self._store, self.run
        assert store is not None and run is not None
        rule = run.stop_rule(self.batch_size)
        store.set_meta(STOP_REASON, None)
        store.set_meta(LLM_FAILURE, None)
        store.set_meta(BUDGET_SPENT, None)
        store.set_meta(RUN_TARGET, str(run.num_instructions))
        prices = run.prices()
        store.set_meta(PRICES_META, prices.to_json() if prices else None)
        # A rerun continues the round numbering of the pool, so its prompts (and candidate
        # ids) never collide with those of the run it resumes.
        round_number = max(offset // self.batch_size, store.counters().get("rounds", 0))
        rounds_here = 0
        while True:
            state = store.state()
            failure = store.meta(LLM_FAILURE) or self._budget_spent(store)
            if failure is not None:
                self._end(store, state, failure)
                yield [], True
                return
            decision = rule.next_round(state, rounds_here)
            if decision is Decision.WAIT:
                reason = yield from self._wait(store, rule, state, rounds_here)
                if reason is None:
                    continue
                # Tasks finished while it waited: the message names the count at the stop.
                self._end(store, store.state(), reason)
                yield [], True
                return
            if decision is Decision.DONE:
                self._logger.info(
                    f"Target reached: {state.finished} of {rule.target} tasks finished."
                )
                yield [], True
                return
            if decision is Decision.ROUND_LIMIT:
                self._end(store, state, f"round limit reached ({rounds_here} rounds)")
                yield [], True
                return
            rows = self.build_round(round_number)
            store.increment("instruction_prompts", len(rows))
            store.increment("rounds")
            round_number += 1
            rounds_here += 1
            yield rows, False

    def _wait(self, store: PoolStore, rule: Any, state: PoolState, rounds_here: int) -> Any:
        """Waits while enough tasks are in flight; `None` once the rule says go on, else
        why the run gives up (yields empty batches meanwhile)."""
        assert self.run is not None
        self._logger.info(
            f"{state.finished} of {rule.target} finished, {state.in_flight} in flight:"
            " waiting for them before generating more."
        )
        progress_at = last_beat = time.monotonic()
        seen = beat_state = state
        interval = self.heartbeat_s
        while True:
            time.sleep(self.poll_s)
            now = time.monotonic()
            current = store.state()
            if current != seen:
                seen, progress_at = current, now
            if rule.next_round(current, rounds_here) is not Decision.WAIT:
                return None
            failure = store.meta(LLM_FAILURE) or self._budget_spent(store)
            if failure is not None:
                return failure
            if now - progress_at >= self.run.stall_timeout_s:
                return (
                    f"no progress for {self.run.stall_timeout_s:.0f} s with"
                    f" {current.in_flight} tasks in flight"
                )
            if now - last_beat >= interval:
                last_beat = now
                # Back off while the tasks in flight do not move; back to the base on progress.
                longest = max(self.heartbeat_s, self.max_heartbeat_s)
                interval = self.heartbeat_s if current != beat_state else min(2 * interval, longest)
                beat_state = current
                # An empty batch lets distilabel ask again, and its stop request get here.
                yield [], False

    def _budget_spent(self, store: PoolStore) -> Optional[str]:
        assert self.run is not None
        spent = self.run.budget_exhausted(store.counters())
        if spent is not None:
            store.set_meta(BUDGET_SPENT, spent)
        return spent

    def _end(self, store: PoolStore, state: PoolState, reason: str) -> None:
        assert self.run is not None
        message = f"stopped at {state.finished} of {self.run.num_instructions} tasks: {reason}"
        store.set_meta(STOP_REASON, message)
        self._logger.warning(message)
