"""Stage 1: seed loading and task-pool sampling.

`SampleDemonstrations` is the generator that drives the bootstrap loop: before each round it
reads the pool (seeds + machine tasks accepted so far), samples demonstrations for each prompt
(by default 6 human + 2 machine, the paper's mix), and stops once the run has enough finished
tasks.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import GeneratorStep
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.pool import PoolStore
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

if TYPE_CHECKING:
    from distilabel.typing import GeneratorStepOutput


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
        weights = [
            math.exp(-recency_bias * (len(machine) - 1 - i) / len(machine))
            for i in range(len(machine))
        ]
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


class SampleDemonstrations(GeneratorStep):
    """Samples demonstrations from the growing task pool, round after round.

    Each batch is one bootstrap round of `batch_size` prompts. Before a round the step reads
    the pool store, so tasks that `RougeLFilter` accepted during earlier rounds become
    demonstrations. It stops when the pool holds `num_instructions` finished tasks, or when
    finished plus in-flight tasks are expected to get there, or after `max_rounds`.

    Attributes:
        num_demonstrations: demonstrations per prompt (paper: 8).
        num_machine_demonstrations: how many of them may be machine tasks (paper: 2).
        recency_bias: 0 samples machine tasks uniformly; larger values favour recent ones.
        random_seed: seed of the step's `random.Random`; each round reseeds from it and the
            round number, so a round's sampling depends only on the seed and the pool it
            reads (which machine tasks the pool holds then depends on how far the pipeline's
            other steps have got).

    Runtime parameters:
        - `pool_path`: the SQLite pool store of the run (created if missing).
        - `seeds_path`: seed JSONL files (official Self-Instruct format), separated by
            commas, as the user gave them; `bundled` (the default) is the set shipped in the
            package.
        - `num_instructions`: how many finished machine tasks the run should produce.
        - `max_rounds`: safety stop for models that keep repeating themselves.
        - `batch_size`: prompts per round.

    Output columns:
        - prompt_id (`str`): identifies the prompt (round and position).
        - bootstrap_round (`int`): the round the prompt belongs to.
        - demonstrations (`List[str]`): the sampled instructions, shuffled.
        - demonstration_ids (`List[str]`): their task ids.

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

        step = SampleDemonstrations(pool_path="out/pool.sqlite", num_instructions=10, batch_size=2)
        step.load()
        rows, last = next(step.process())
        ```
    """

    pool_path: RuntimeParameter[str] = Field(
        default="selfinstruct_pool.sqlite",
        description="The SQLite pool store that carries the loop between rounds.",
    )
    seeds_path: Optional[RuntimeParameter[str]] = Field(
        default=None,
        description="Seed JSONL file(s), comma separated; `bundled` (the default) is the"
        " set shipped in the package.",
    )
    num_instructions: RuntimeParameter[int] = Field(
        default=100, description="Finished machine tasks to produce."
    )
    max_rounds: Optional[RuntimeParameter[int]] = Field(
        default=None,
        description="Stop after this many rounds of this invocation even if the target is"
        " not reached (default: 4 x num_instructions / batch_size, at least 20).",
    )
    batch_size: RuntimeParameter[int] = Field(default=4, description="Prompts per bootstrap round.")
    num_demonstrations: int = 8
    num_machine_demonstrations: int = 2
    recency_bias: float = 0.0
    random_seed: int = 42
    expected_survival: float = Field(
        default=0.8,
        description="Share of accepted instructions expected to finish with instances, used"
        " until the run has measured its own.",
    )

    _store: Optional[PoolStore] = PrivateAttr(default=None)

    @property
    def outputs(self) -> list[str]:
        return ["prompt_id", "bootstrap_round", "demonstrations", "demonstration_ids"]

    def seed_paths(self) -> list[str]:
        return seed_paths(self.seeds_path)

    def load(self) -> None:
        super().load()
        seeds = load_seed_tasks(self.seed_paths())
        self._store = PoolStore(self.pool_path)
        added = self._store.add_seeds(seeds)
        self._logger.info(
            f"Pool at '{self.pool_path}': {self._store.count('seed')} seed tasks"
            f" ({added} new), {self._store.count('machine')} machine tasks."
        )

    def unload(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()

    def _round_limit(self) -> int:
        if self.max_rounds:
            return int(self.max_rounds)
        return max(20, math.ceil(4 * self.num_instructions / self.batch_size))

    def expected_finished(self) -> float:
        """Finished tasks plus the in-flight ones weighted by the measured survival rate."""
        assert self._store is not None
        return self._store.expected_finished(self.expected_survival)

    def build_round(self, round_number: int) -> list[dict[str, Any]]:
        assert self._store is not None
        tasks = self._store.tasks()
        human = [task for task in tasks if task["origin"] == "seed"]
        machine = [task for task in tasks if task["origin"] == "machine"]
        rng = random.Random(f"{self.random_seed}:{round_number}")
        rows = []
        for position in range(self.batch_size):
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
                }
            )
        return rows

    def process(self, offset: int = 0) -> GeneratorStepOutput:  # type: ignore[override]
        """Yields one round per batch until the target is (expected to be) reached.

        Args:
            offset: distilabel's resume offset; rounds are numbered from it so a resumed
                run continues the numbering.
        """
        assert self._store is not None
        # A rerun continues the round numbering of the pool, so its prompts (and candidate
        # ids) never collide with those of the run it resumes.
        round_number = max(offset // self.batch_size, self._store.counters().get("rounds", 0))
        limit = round_number + self._round_limit()
        finished = self._store.completed_count()
        if finished >= self.num_instructions or (
            self.expected_finished() >= self.num_instructions and not self._store.unfinished_tasks()
        ):
            # A rerun of a finished run: end the stream without spending LLM calls. (With
            # unfinished tasks, one round runs: they ride on it, see SplitInstructions.)
            self._logger.info("The pool already holds the target; nothing to generate.")
            yield [], True
            return
        while True:
            rows = self.build_round(round_number)
            self._store.increment("instruction_prompts", len(rows))
            self._store.increment("rounds")
            round_number += 1
            expected = self.expected_finished()
            last = expected >= self.num_instructions or round_number >= limit
            if last:
                self._logger.info(
                    f"Last round {round_number - 1}: {self._store.completed_count()} finished,"
                    f" ~{expected:.1f} expected of {self.num_instructions}"
                    + (" (round limit reached)" if round_number >= limit else "")
                )
            yield rows, last
            if last:
                return
