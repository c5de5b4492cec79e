"""The one rule that decides when the bootstrap loop has done its work.

Three steps consult it, each about its own decision: `SampleDemonstrations` (generate
another round, wait for the tasks in flight, or end the stream), the pool's gate in
`RougeLFilter` (admit one more task, or is enough already on its way), and `CommitToPool`
(keep a finished task, or is the target already met). All three decide on a `PoolState`
read from the pool store, so they agree however the pipeline was started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from distilabel_selfinstruct.bootstrap.stages import Reason
from distilabel_selfinstruct.pool import PoolState, PoolStore

# The pool store's meta entry saying why the last invocation ended short of the target
# (`None` once it reached it): the generator writes it, the command line and summary read it.
STOP_REASON = "stop_reason"
# The meta entry saying the LLM's server failed (one line); the LLM tasks write it, the
# generator ends the stream on it and the command line stops the pipeline.
LLM_FAILURE = "llm_failure"
# The meta entry saying the run spent its token or cost budget (one line): the generator
# writes it, the command line stops the pipeline at once (the steps would otherwise go on
# with the work already queued) and reports a clean stop.
BUDGET_SPENT = "budget_spent"


class Decision(Enum):
    """What the generator does next."""

    GENERATE = "generate"  # another round of prompts
    WAIT = "wait"  # enough tasks in flight: see whether they finish
    DONE = "done"  # the target is met: end the stream
    ROUND_LIMIT = "round_limit"  # give up: `max_rounds` rounds, none in flight


@dataclass(frozen=True)
class StopRule:
    """The target and how to reach it without waste.

    Attributes:
        target: finished tasks the run must end with.
        expected_survival: share of accepted tasks expected to finish before the run has
            measured its own; it weighs as `prior_weight` resolved tasks, so one early
            loss can't make the estimate 0 (which would never stop admitting).
        prior_weight: how many observations the prior counts for.
        in_flight_margin: admit tasks while the expected finished count is below this
            times the target (slack for losses, so the generator rarely has to go again).
        round_limit: rounds one invocation may generate; it gives up after them once no
            task is in flight.
        max_in_flight: wait while this many accepted tasks are unfinished (`None`: only
            the target bounds them).
    """

    target: int
    expected_survival: float = 0.8
    prior_weight: float = 5.0
    in_flight_margin: float = 1.25
    round_limit: int = 20
    max_in_flight: Optional[int] = None

    def survival(self, state: PoolState) -> float:
        """Share of accepted tasks that finish: measured, smoothed by the prior."""
        resolved = state.finished + state.lost
        return (state.finished + self.expected_survival * self.prior_weight) / (
            resolved + self.prior_weight
        )

    def expected_finished(self, state: PoolState) -> float:
        """Finished tasks plus the ones in flight, weighted by their survival."""
        return state.finished + state.in_flight * self.survival(state)

    def next_round(self, state: PoolState, rounds_this_invocation: int) -> Decision:
        """The generator's decision before it yields a round."""
        if state.finished >= self.target:
            return Decision.DONE
        if rounds_this_invocation >= self.round_limit:
            # Give up only once the tasks in flight have finished or dropped: ending the
            # stream earlier would abandon them, and they may still reach the target.
            return Decision.WAIT if state.in_flight > 0 else Decision.ROUND_LIMIT
        # An invocation always runs one round first: tasks a killed run left in flight
        # ride on it (see SplitInstructions), so they are not in flight before it.
        if (
            rounds_this_invocation > 0
            and state.in_flight > 0
            and (
                self.expected_finished(state) >= self.target
                or (self.max_in_flight is not None and state.in_flight >= self.max_in_flight)
            )
        ):
            return Decision.WAIT
        return Decision.GENERATE

    def admission(self, state: PoolState) -> Optional[Reason]:
        """Why the gate refuses one more novel task now, `None` if it admits it."""
        if state.finished >= self.target:
            return Reason.TARGET_REACHED
        if self.expected_finished(state) >= self.in_flight_margin * self.target:
            return Reason.ENOUGH_IN_FLIGHT
        return None


def stream_has_ended(store: PoolStore, target: int) -> bool:
    """Whether the generator has ended (or is ending) the run's stream: the target is met,
    or the run stopped short of it for a reason it recorded. Cheap enough to poll; the LLM
    steps ask it so they stop waiting for replies the run no longer uses."""
    if any(store.meta(name) for name in (STOP_REASON, LLM_FAILURE, BUDGET_SPENT)):
        return True
    return store.completed_count() >= target


def default_round_limit(target: int, batch_size: int) -> int:
    """Rounds an invocation may take: 4 prompts per wanted task, at least 20 rounds."""
    return max(20, math.ceil(4 * target / max(1, batch_size)))
