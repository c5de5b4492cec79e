"""Demonstration sampling and the round generator that drives the bootstrap loop."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stop import STOP_REASON
from distilabel_selfinstruct.pool import PoolStore, open_pool_store
from distilabel_selfinstruct.sampling import (
    SampleDemonstrations,
    sample_demonstrations,
    sample_diverse_demonstrations,
    task_kind,
)
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks

pytestmark = pytest.mark.usefixtures("isolated_env")

HUMAN = [
    {"task_id": f"seed_task_{i}", "instruction": f"Seed {i}.", "origin": "seed"} for i in range(30)
]


def machine_tasks(count: int) -> list[dict]:
    return [
        {"task_id": f"machine_{i}", "instruction": f"Machine {i}.", "origin": "machine"}
        for i in range(count)
    ]


def origins(demonstrations: list[dict]) -> Counter:
    return Counter(task["origin"] for task in demonstrations)


def test_six_human_and_two_machine_when_enough_machine_tasks() -> None:
    chosen = sample_demonstrations(random.Random(0), HUMAN, machine_tasks(10), 8, 2)
    assert len(chosen) == 8
    assert origins(chosen) == Counter({"seed": 6, "machine": 2})
    assert len({task["task_id"] for task in chosen}) == 8


@pytest.mark.parametrize(("available", "expected_machine"), [(0, 0), (1, 1), (2, 2)])
def test_fewer_machine_tasks_fill_up_with_human(available: int, expected_machine: int) -> None:
    chosen = sample_demonstrations(random.Random(0), HUMAN, machine_tasks(available), 8, 2)
    assert len(chosen) == 8
    assert origins(chosen)["machine"] == expected_machine
    assert origins(chosen)["seed"] == 8 - expected_machine


def test_small_pools_give_what_there_is() -> None:
    chosen = sample_demonstrations(random.Random(0), HUMAN[:3], machine_tasks(1), 8, 2)
    assert origins(chosen) == Counter({"seed": 3, "machine": 1})


def test_no_duplicates_over_many_draws() -> None:
    rng = random.Random(1)
    for _ in range(200):
        chosen = sample_demonstrations(rng, HUMAN[:9], machine_tasks(3), 8, 2, recency_bias=2.0)
        ids = [task["task_id"] for task in chosen]
        assert len(ids) == len(set(ids)) == 8


def test_demonstrations_are_shuffled() -> None:
    # Machine tasks must not always come last (the model would learn where they are).
    rng = random.Random(2)
    positions = set()
    for _ in range(50):
        chosen = sample_demonstrations(rng, HUMAN, machine_tasks(10), 8, 2)
        positions.update(i for i, task in enumerate(chosen) if task["origin"] == "machine")
    assert len(positions) >= 6


@pytest.mark.parametrize("bias", [0.0, 3.0])
def test_deterministic_for_the_same_seed(bias: float) -> None:
    machine = machine_tasks(20)
    first = sample_demonstrations(random.Random(7), HUMAN, machine, 8, 2, bias)
    second = sample_demonstrations(random.Random(7), HUMAN, machine, 8, 2, bias)
    other = sample_demonstrations(random.Random(8), HUMAN, machine, 8, 2, bias)
    assert first == second
    assert first != other


def newest_share(bias: float, draws: int = 3000) -> tuple[float, float]:
    machine = machine_tasks(10)
    rng = random.Random(1234)
    counts: Counter = Counter()
    for _ in range(draws):
        for task in sample_demonstrations(rng, HUMAN, machine, 8, 1, bias):
            if task["origin"] == "machine":
                counts[task["task_id"]] += 1
    return counts["machine_9"] / draws, counts["machine_0"] / draws


def test_recency_bias_favours_the_newest() -> None:
    # Uniform: each of 10 tasks ~10%. Bias 5: the newest has weight 1, the oldest e^-4.5,
    # so the newest is drawn ~40% of the time and the oldest ~0.4%.
    uniform_newest, uniform_oldest = newest_share(0.0)
    biased_newest, biased_oldest = newest_share(5.0)
    assert 0.07 < uniform_newest < 0.13 and 0.07 < uniform_oldest < 0.13
    assert biased_newest > 0.33
    assert biased_oldest < 0.02
    assert biased_newest > 3 * uniform_newest


RUN_SETTINGS = ("num_instructions", "max_rounds", "seeds_path", "stall_timeout_s")


def make_step(pool_path: Path, **kwargs) -> SampleDemonstrations:
    settings = {key: kwargs.pop(key) for key in RUN_SETTINGS if key in kwargs}
    step = SampleDemonstrations(
        run=BootstrapRun(pool_path=str(pool_path), **settings),
        poll_s=0.01,
        heartbeat_s=0.05,
        **kwargs,
    )
    step.load()
    return step


def accept(store: PoolStore, instruction: str) -> str:
    return store.accept(
        candidate_id=f"cand-{instruction}",
        instruction=instruction,
        bootstrap_round=0,
        rouge_l_max=0.1,
        most_similar_task_id=None,
    )


def test_load_adds_the_bundled_seeds_once(pool_path: Path) -> None:
    make_step(pool_path).unload()
    step = make_step(pool_path)
    with open_pool_store(pool_path) as store:
        assert store.count("seed") == len(load_seed_tasks(bundled_seed_path()))
    step.unload()


def test_rounds_have_the_documented_columns(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=3, num_instructions=5, max_rounds=10)
    rounds = step.process()
    rows, last = next(rounds)
    assert last is False
    assert len(rows) == 3
    assert [set(row) for row in rows] == [set(step.outputs)] * 3
    assert [row["prompt_id"] for row in rows] == ["r0p0", "r0p1", "r0p2"]
    assert {row["bootstrap_round"] for row in rows} == {0}
    seeds = {seed.id: seed.instruction for seed in load_seed_tasks(bundled_seed_path())}
    for row in rows:
        assert len(row["demonstrations"]) == 8
        assert len(set(row["demonstration_ids"])) == 8
        assert [seeds[i] for i in row["demonstration_ids"]] == row["demonstrations"]
    rows, _ = next(rounds)
    assert [row["prompt_id"] for row in rows] == ["r1p0", "r1p1", "r1p2"]
    with open_pool_store(pool_path) as store:
        assert store.counters()["instruction_prompts"] == 6
    step.unload()


def test_rounds_are_reproducible(pool_path: Path, tmp_path: Path) -> None:
    first = make_step(pool_path, batch_size=2, random_seed=5)
    second = make_step(tmp_path / "other.sqlite", batch_size=2, random_seed=5)
    assert next(first.process())[0] == next(second.process())[0]
    different = make_step(tmp_path / "third.sqlite", batch_size=2, random_seed=6)
    assert next(different.process())[0] != next(first.process())[0]


def test_rounds_are_numbered_from_the_offset(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2)
    rows, _ = next(step.process(offset=6))
    assert [row["prompt_id"] for row in rows] == ["r3p0", "r3p1"]
    assert {row["bootstrap_round"] for row in rows} == {3}


def test_machine_tasks_accepted_between_rounds_become_demonstrations(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=50)
    rounds = step.process()
    rows, _ = next(rounds)
    assert not any(i.startswith("machine_") for row in rows for i in row["demonstration_ids"])
    with open_pool_store(pool_path) as store:  # another process, e.g. RougeLFilter
        new_id = accept(store, "Write a haiku about rust.")
    rows, _ = next(rounds)
    for row in rows:
        # One machine task in the pool, up to two allowed: every prompt shows it.
        assert new_id in row["demonstration_ids"]
        assert "Write a haiku about rust." in row["demonstrations"]
        assert len(row["demonstrations"]) == 8


def test_ends_the_stream_when_finished_tasks_reach_the_target(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=2, max_rounds=100)
    rounds = step.process()
    assert next(rounds)[1] is False
    with open_pool_store(pool_path) as store:
        ids = [accept(store, f"Machine task {i}.") for i in range(2)]
    # Two in flight at the prior survival of 0.8 are not expected to be enough.
    rows, last = next(rounds)
    assert last is False and len(rows) == 2
    with open_pool_store(pool_path) as store:
        store.complete([{"task_id": task_id, "instances": []} for task_id in ids])
    assert next(rounds) == ([], True)
    with pytest.raises(StopIteration):
        next(rounds)
    with open_pool_store(pool_path) as store:
        assert store.meta(STOP_REASON) is None


def test_waits_while_the_tasks_in_flight_are_enough_then_goes_on(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=4, max_rounds=100)
    rounds = step.process()
    assert next(rounds)[1] is False  # an invocation always runs one round first
    with open_pool_store(pool_path) as store:
        ids = [accept(store, f"Machine task {i}.") for i in range(6)]
    # 6 in flight x 0.8 >= 4: it waits, yielding empty batches so a stop request reaches it.
    assert next(rounds) == ([], False)
    assert next(rounds) == ([], False)
    with open_pool_store(pool_path) as store:
        store.record_drops(
            [
                {"candidate_id": f"cand-Machine task {i}.", "stage": "instances", "reason": "x"}
                for i in range(4)
            ]
        )
        store.complete([{"task_id": ids[4], "instances": []}])
    # 1 finished, 1 in flight: not enough any more, so another round.
    rows, last = next(rounds)
    assert last is False and [row["bootstrap_round"] for row in rows] == [1, 1]


def test_heartbeats_back_off_while_nothing_moves_and_speed_up_on_progress(
    pool_path: Path,
) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=4, max_rounds=100)
    step.heartbeat_s, step.max_heartbeat_s = 0.05, 0.4
    rounds = step.process()
    next(rounds)
    with open_pool_store(pool_path) as store:
        ids = [accept(store, f"Machine task {i}.") for i in range(6)]

    def gaps(count: int) -> list[float]:
        times = []
        for _ in range(count):
            assert next(rounds) == ([], False)
            times.append(time.monotonic())
        return [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)]

    # Nothing finishes: each wait twice the last, up to the longest (poll steps of 0.01 s).
    waits = gaps(6)
    assert waits[0] < 0.15 and waits[1] >= 0.18 and waits[-1] >= 0.38
    assert max(waits) < 0.5
    with open_pool_store(pool_path) as store:
        store.complete([{"task_id": ids[0], "instances": []}])
    next(rounds)  # the beat that sees the progress
    assert max(gaps(2)) < 0.15


def test_gives_up_when_the_tasks_in_flight_stall(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=2, stall_timeout_s=0.2)
    rounds = step.process()
    next(rounds)
    with open_pool_store(pool_path) as store:
        for i in range(4):
            accept(store, f"Machine task {i}.")
    batches = list(rounds)
    assert batches[-1] == ([], True)
    assert all(batch == ([], False) for batch in batches[:-1])
    with open_pool_store(pool_path) as store:
        reason = store.meta(STOP_REASON)
    assert reason == "stopped at 0 of 2 tasks: no progress for 0 s with 4 tasks in flight"


def test_the_stop_message_counts_the_tasks_finished_while_it_waited(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=3, stall_timeout_s=0.3)
    rounds = step.process()
    next(rounds)
    with open_pool_store(pool_path) as store:
        ids = [accept(store, f"Machine task {i}.") for i in range(6)]
    assert next(rounds) == ([], False)  # waiting, none finished
    with open_pool_store(pool_path) as store:
        store.complete([{"task_id": ids[0], "instances": []}])
    assert list(rounds)[-1] == ([], True)  # then nothing more: it gives up
    with open_pool_store(pool_path) as store:
        reason = store.meta(STOP_REASON)
    assert reason.startswith("stopped at 1 of 3 tasks: no progress")


def test_stops_after_max_rounds(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=1, num_instructions=1000, max_rounds=3)
    batches = list(step.process())
    assert [last for _, last in batches] == [False, False, False, True]
    assert batches[-1] == ([], True)
    with open_pool_store(pool_path) as store:
        assert store.meta(STOP_REASON) == (
            "stopped at 0 of 1000 tasks: round limit reached (3 rounds)"
        )


def test_at_the_round_limit_it_waits_for_the_tasks_in_flight(pool_path: Path) -> None:
    # Ending the stream at the limit would abandon accepted tasks that may still finish.
    step = make_step(pool_path, batch_size=1, num_instructions=2, max_rounds=1)
    rounds = step.process()
    assert next(rounds)[1] is False
    with open_pool_store(pool_path) as store:
        ids = [accept(store, f"Machine task {i}.") for i in range(2)]
    assert next(rounds) == ([], False)
    assert next(rounds) == ([], False)
    with open_pool_store(pool_path) as store:
        store.complete([{"task_id": task_id, "instances": []} for task_id in ids])
    assert next(rounds) == ([], True)
    with open_pool_store(pool_path) as store:
        assert store.meta(STOP_REASON) is None  # the target, reached


def test_a_rerun_of_a_finished_run_generates_nothing(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2, num_instructions=1)
    with open_pool_store(pool_path) as store:
        task_id = accept(store, "Machine task.")
        store.complete([{"task_id": task_id, "instances": []}])
    assert list(step.process()) == [([], True)]


def test_seeds_path_accepts_several_files(pool_path: Path, tmp_path: Path) -> None:
    lines = bundled_seed_path().read_text("utf-8").splitlines()
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    two.write_text("\n".join(lines[10:15]) + "\n", encoding="utf-8")
    step = make_step(pool_path, seeds_path=[str(one), str(two)], batch_size=1)
    with open_pool_store(pool_path) as store:
        assert store.count("seed") == 15
    rows, _ = next(step.process())
    assert len(rows[0]["demonstrations"]) == 8


# -- diverse demonstrations and topics -------------------------------------------------

KINDS = ["write", "classify", "translate", "summarize", "list", "explain"]


def kinded(count_per_kind: dict[str, int], origin: str) -> list[dict]:
    return [
        {
            "task_id": f"{origin}-{kind}-{i}",
            "instruction": f"{kind.title()} item {i}.",
            "origin": origin,
        }
        for kind, count in count_per_kind.items()
        for i in range(count)
    ]


def kind_of(task: dict) -> str:
    return task["instruction"].split()[0].lower()


def test_diverse_demonstrations_span_kinds_a_random_draw_repeats() -> None:
    # One common kind (100 seeds) and five rare ones (2 each): a random draw of 6 is mostly
    # the common kind; a diverse draw takes each kind once.
    human = kinded({"write": 100, **{kind: 2 for kind in KINDS[1:]}}, "seed")
    diverse = sample_diverse_demonstrations(random.Random(1), human, [], 6, 0, kind=kind_of)
    assert sorted(kind_of(task) for task in diverse) == sorted(KINDS)
    plain = sample_demonstrations(random.Random(1), human, [], 6, 0)
    assert Counter(kind_of(task) for task in plain)["write"] >= 4


def test_diverse_machine_tasks_avoid_a_kind_already_drawn() -> None:
    human = kinded({kind: 5 for kind in KINDS}, "seed")
    machine = kinded({"write": 50, "classify": 1}, "machine")
    for seed in range(50):
        chosen = sample_diverse_demonstrations(
            random.Random(seed), human, machine, 8, 2, 3.0, kind_of
        )
        picked = [task for task in chosen if task["origin"] == "machine"]
        assert sorted(kind_of(task) for task in picked) == ["classify", "write"]
        assert len({task["task_id"] for task in chosen}) == 8
        # The kinds the machine tasks did not bring come first, then the others again.
        human_kinds = {kind_of(task) for task in chosen if task["origin"] == "seed"}
        assert human_kinds >= {"translate", "summarize", "list", "explain"}


def test_task_kind_is_the_leading_verb() -> None:
    assert task_kind("Write a poem about the sea.") == "write"
    assert task_kind("What is the capital of France?") == "be"
    assert task_kind("Why do cats purr?") == "other"


def test_diverse_rounds_are_reproducible(pool_path: Path, tmp_path: Path) -> None:
    first = make_step(pool_path, demonstration_sampling="diverse", batch_size=4)
    rows, _ = next(first.process())
    first.unload()
    second = make_step(tmp_path / "other.sqlite", demonstration_sampling="diverse", batch_size=4)
    again, _ = next(second.process())
    second.unload()
    assert [row["demonstration_ids"] for row in rows] == [row["demonstration_ids"] for row in again]
    for row in rows:
        assert len(set(row["demonstration_ids"])) == 8
        assert len({task_kind(text) for text in row["demonstrations"]}) == 8


def test_topics_go_to_the_least_represented_and_ride_on_the_rows(
    pool_path: Path, tmp_path: Path
) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_text("cooking\nphysics\nmusic\n", encoding="utf-8")
    step = make_step(pool_path, topics_path=str(topics), batch_size=30, num_instructions=50)
    with open_pool_store(pool_path) as store:
        for i in range(30):
            store.accept(
                candidate_id=f"c{i}",
                instruction=f"Cook dish number {i}.",
                bootstrap_round=0,
                rouge_l_max=0.1,
                most_similar_task_id=None,
                topic="cooking",
            )
        assert store.topic_counts() == {"cooking": 30}
    rows, _ = next(step.process())
    drawn = Counter(row["topic"] for row in rows)
    assert set(drawn) <= {"cooking", "physics", "music"}
    assert drawn["cooking"] < drawn["physics"] and drawn["cooking"] < drawn["music"]
    step.unload()


def test_without_topics_the_topic_column_is_empty(pool_path: Path) -> None:
    step = make_step(pool_path, batch_size=2)
    rows, _ = next(step.process())
    assert [row["topic"] for row in rows] == [None, None]
    step.unload()


def test_a_bad_topic_file_fails_at_load_before_the_pool_is_opened(
    pool_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no such topic file"):
        make_step(pool_path, topics_path=str(tmp_path / "missing.txt"))
    assert not pool_path.exists()
