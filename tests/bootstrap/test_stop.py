"""The one stop rule: what the generator, the pool's gate and the commit step decide."""

from __future__ import annotations

import pytest

from distilabel_selfinstruct.bootstrap.stages import Reason
from distilabel_selfinstruct.bootstrap.stop import Decision, StopRule, default_round_limit
from distilabel_selfinstruct.pool import PoolState

RULE = StopRule(target=10, expected_survival=0.8, prior_weight=5, in_flight_margin=1.25)


def state(finished: int = 0, accepted: int = 0, lost: int = 0, rounds: int = 0) -> PoolState:
    return PoolState(finished=finished, accepted=accepted, lost=lost, rounds=rounds)


def test_survival_starts_at_the_prior_and_follows_the_measurements() -> None:
    assert RULE.survival(state()) == pytest.approx(0.8)
    # One early loss cannot make it 0 (which would never close the gate).
    assert RULE.survival(state(accepted=1, lost=1)) == pytest.approx(4 / 6)
    assert RULE.survival(state(finished=50, accepted=100, lost=50)) == pytest.approx(54 / 105)


def test_expected_finished_weighs_the_tasks_in_flight() -> None:
    current = state(finished=4, accepted=10, lost=1)
    assert current.in_flight == 5
    assert RULE.expected_finished(current) == pytest.approx(4 + 5 * RULE.survival(current))


def test_generator_generates_until_enough_is_in_flight_then_waits() -> None:
    assert RULE.next_round(state(), 0) is Decision.GENERATE
    assert RULE.next_round(state(finished=2, accepted=5), 3) is Decision.GENERATE
    assert RULE.next_round(state(finished=2, accepted=14), 3) is Decision.WAIT


def test_a_new_invocation_always_runs_one_round_first() -> None:
    # Tasks a killed run left in flight only start moving with the first round.
    assert RULE.next_round(state(finished=2, accepted=14), 0) is Decision.GENERATE


def test_generator_goes_on_when_the_tasks_in_flight_are_lost() -> None:
    assert RULE.next_round(state(finished=8, accepted=14, lost=6), 5) is Decision.GENERATE


def test_generator_is_done_at_the_target_and_gives_up_at_the_round_limit() -> None:
    assert RULE.next_round(state(finished=10, accepted=12), 3) is Decision.DONE
    limited = StopRule(target=10, round_limit=4)
    assert limited.next_round(state(finished=3), 4) is Decision.ROUND_LIMIT
    # Tasks still in flight may reach the target: it waits for them before it gives up.
    assert limited.next_round(state(finished=3, accepted=5), 4) is Decision.WAIT
    # Done wins over the limit: the run reached what it was asked.
    assert limited.next_round(state(finished=10), 4) is Decision.DONE


def test_the_gate_admits_until_the_margin_and_closes_at_the_target() -> None:
    assert RULE.admission(state(finished=2, accepted=8)) is None
    # 2 finished + 12 in flight x 0.8 = 11.6 < 12.5 : still admitted.
    assert RULE.admission(state(finished=2, accepted=14)) is None
    # 2 + 13 x 0.8 = 12.4 ; 2 + 14 x 0.8 = 13.2 >= 12.5 : enough.
    assert RULE.admission(state(finished=2, accepted=16)) is Reason.ENOUGH_IN_FLIGHT
    assert RULE.admission(state(finished=10, accepted=10)) is Reason.TARGET_REACHED


def test_default_round_limit() -> None:
    assert default_round_limit(100, 4) == 100
    assert default_round_limit(2, 4) == 20
