"""The progress display's numbers, read from a pool store with known contents."""

from __future__ import annotations

import io
import time
from pathlib import Path

from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.progress import ProgressDisplay, RunProgress


def fill(pool_path: Path, accepted: int, finished: int) -> None:
    with open_pool_store(pool_path) as store:
        for i in range(accepted):
            store.accept(
                candidate_id=f"c{i}",
                instruction=f"Write a haiku about topic number {i}.",
                bootstrap_round=0,
                rouge_l_max=0.1,
                most_similar_task_id=None,
            )
        store.complete({"task_id": f"t{i}", "instruction": f"x{i}"} for i in range(finished))
        store.record_drops(
            [
                {"candidate_id": "d1", "stage": "rouge_l", "reason": "rouge_l_too_similar"},
                {"candidate_id": "d2", "stage": "rouge_l", "reason": "rouge_l_too_similar"},
                {"candidate_id": "d3", "stage": "instruction_filters", "reason": "too_short"},
                {"candidate_id": "c0", "stage": "instances", "reason": "no_valid_instances"},
            ]
        )
        store.increment("rounds", 3)
        store.increment("instruction_prompts", 12)


def test_the_reading_counts_what_the_store_holds(pool_path: Path) -> None:
    fill(pool_path, accepted=5, finished=2)
    progress = RunProgress.read(pool_path, target=10, elapsed_s=60.0, finished_at_start=0)
    assert (progress.finished, progress.accepted, progress.candidates) == (2, 5, 8)
    assert (progress.rounds, progress.llm_calls) == (3, 12 + 2 * 5)
    assert progress.top_drops[0] == ("rouge_l/rouge_l_too_similar", 2)
    assert len(progress.top_drops) == 3
    # 2 tasks in 60 s: 8 more take 240 s.
    assert progress.eta_s == 240.0
    line = progress.status_line()
    assert line.startswith("[1:00] 2/10 finished · 5 accepted of 8 candidates · round 3")
    assert "rouge_l_too_similar 2" in line and line.endswith("left 4:00")


def test_time_left_counts_only_this_invocations_pace(pool_path: Path) -> None:
    fill(pool_path, accepted=5, finished=4)
    resumed = RunProgress.read(pool_path, target=10, elapsed_s=30.0, finished_at_start=4)
    assert resumed.eta_s is None  # nothing finished since the resume: no pace yet
    done = RunProgress.read(pool_path, target=4, elapsed_s=30.0)
    assert done.eta_s == 0.0


def wait_for_lines(stream: io.StringIO, count: int, timeout_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while len(stream.getvalue().splitlines()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return stream.getvalue().splitlines()


def test_plain_mode_prints_a_line_when_something_changed(pool_path: Path) -> None:
    fill(pool_path, accepted=1, finished=0)
    stream = io.StringIO()
    with ProgressDisplay(pool_path, 3, stream, live=False, plain_interval_s=0.05):
        wait_for_lines(stream, 1)
        time.sleep(0.2)  # several more readings, nothing changed: no new line
        assert len(stream.getvalue().splitlines()) == 1
        with open_pool_store(pool_path) as store:
            store.complete([{"task_id": "t0", "instruction": "x"}])
        lines = wait_for_lines(stream, 2)
    assert [line.split("] ")[1].split(" ·")[0] for line in lines] == [
        "0/3 finished",
        "1/3 finished",
    ]


def test_live_mode_ends_with_the_final_table(pool_path: Path) -> None:
    fill(pool_path, accepted=2, finished=2)
    stream = io.StringIO()
    with ProgressDisplay(pool_path, 2, stream, live=True, refresh_s=0.05):
        time.sleep(0.2)
    text = stream.getvalue()
    assert "finished tasks" in text and "2 / 2" in text
