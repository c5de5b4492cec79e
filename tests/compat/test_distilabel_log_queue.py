"""The log-queue fix: `LogQueue` with a `QueueListener` directly, then a real pipeline in a
child process whose step leaves the log queue's write lock taken (without the fix, `run()`
never returns)."""

from __future__ import annotations

import logging
import multiprocessing as mp
import multiprocessing.queues
import os
import subprocess
import threading
import time
from logging.handlers import QueueListener
from pathlib import Path
from typing import Any

import pytest
from distilabel.pipeline import Pipeline
from distilabel.pipeline.local import Pipeline as LocalPipeline

from distilabel_selfinstruct.compat import DISABLE_ENV
from distilabel_selfinstruct.compat import distilabel_log_queue as fix
from distilabel_selfinstruct.compat._guard import APPLIED, source_sha256
from distilabel_selfinstruct.loop_pipeline import SelfInstructPipeline
from tests.compat import children

CHILD = Path(__file__).with_name("log_lock_pipeline.py")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)


def take_the_lock_and_die(queue: Any) -> None:
    """A worker killed while writing: the queue's write lock stays taken."""
    queue._wlock.acquire()
    os._exit(0)


def stop_in_thread(listener: QueueListener) -> threading.Thread:
    stopping = threading.Thread(target=listener.stop, daemon=True)
    stopping.start()
    return stopping


def lock_taken_by_a_dead_process(queue: Any) -> None:
    child = mp.get_context("fork").Process(target=take_the_lock_and_die, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0


@pytest.mark.timeout(60)
def test_the_listener_stops_although_a_dead_worker_holds_the_lock(
    capfd: pytest.CaptureFixture[str],
) -> None:
    queue, handler = fix.LogQueue(), Collect()
    listener = QueueListener(queue, handler)
    listener.start()
    queue.put_nowait(record("before"))
    deadline = time.monotonic() + 10
    while handler.messages != ["before"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handler.messages == ["before"]
    lock_taken_by_a_dead_process(queue)
    queue.put_nowait(record("never written"))  # the feeder now waits for the lock forever
    stopping = stop_in_thread(listener)
    stopping.join(timeout=fix.FLUSH_S + 10)
    assert not stopping.is_alive()
    assert handler.messages == ["before"]
    assert "locked by a stopped worker" in capfd.readouterr().err
    queue.close()  # and the exit does not join the stuck feeder (cancel_join_thread)
    assert queue._joincancelled


@pytest.mark.timeout(60)
def test_without_the_fix_the_listener_never_stops() -> None:
    queue: Any = multiprocessing.queues.Queue(ctx=mp.get_context())
    listener = QueueListener(queue, Collect())
    listener.start()
    lock_taken_by_a_dead_process(queue)
    stopping = stop_in_thread(listener)
    stopping.join(timeout=fix.FLUSH_S + 5)
    assert stopping.is_alive()  # distilabel's stop_logging() hangs here
    # Let it go (a lock, unlike a mutex, may be released by another process).
    queue._wlock.release()
    stopping.join(timeout=10)
    assert not stopping.is_alive()


@pytest.mark.timeout(60)
def test_every_record_before_the_stop_arrives_in_order() -> None:
    queue, handler = fix.LogQueue(), Collect()
    listener = QueueListener(queue, handler)
    listener.start()
    worker = mp.get_context("fork").Process(
        target=lambda: [queue.put(record(f"worker {n}")) for n in range(50)]
    )
    worker.start()
    worker.join(timeout=30)
    for n in range(200):
        queue.put_nowait(record(f"main {n}"))
    listener.stop()  # right away: what the main process logged is flushed first
    assert [m for m in handler.messages if m.startswith("main")] == [
        f"main {n}" for n in range(200)
    ]
    assert [m for m in handler.messages if m.startswith("worker")] == [
        f"worker {n}" for n in range(50)
    ]
    queue.close()
    assert not queue._joincancelled


def test_a_get_with_a_timeout_still_times_out() -> None:
    queue = fix.LogQueue()
    started = time.monotonic()
    with pytest.raises(mp.queues.Empty):  # type: ignore[attr-defined]
        queue.get(timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    queue.put(record("x"))
    assert queue.get(timeout=5).getMessage() == "x"


def test_our_pipelines_take_a_log_queue_and_distilabel_s_stay_as_they_were() -> None:
    assert fix.FIX.decide() == APPLIED
    ours, plain = SelfInstructPipeline(name="ours"), Pipeline(name="plain")
    for pipeline in (ours, plain):
        pipeline._log_queue = mp.Queue()  # what `Pipeline.run` does
    assert type(ours._log_queue) is fix.LogQueue
    assert type(plain._log_queue) is multiprocessing.queues.Queue
    assert "_log_queue" not in LocalPipeline.__dict__  # distilabel's class is untouched
    ours._log_queue = None
    assert ours._log_queue is None


def test_the_fix_was_written_against_the_installed_source() -> None:
    assert source_sha256(fix.FIX.original()) == fix.ORIGINAL_SHA256


def test_the_environment_turns_the_fix_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, fix.NAME)
    monkeypatch.setattr(fix.FIX, "outcome", None)
    pipeline = SelfInstructPipeline(name="ours")
    pipeline._log_queue = mp.Queue()
    assert type(pipeline._log_queue) is multiprocessing.queues.Queue


def test_a_changed_run_is_not_used_and_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fix.FIX, "original_sha256", "0" * 64)
    monkeypatch.setattr(fix.FIX, "outcome", None)
    with pytest.warns(RuntimeWarning, match="not used"):
        pipeline = SelfInstructPipeline(name="ours")
        pipeline._log_queue = mp.Queue()
    assert type(pipeline._log_queue) is multiprocessing.queues.Queue


def start_child(tmp_path: Path, pipeline: str) -> tuple[subprocess.Popen, Path, Path]:
    return children.start_child(tmp_path, CHILD, pipeline, fix.NAME, "lock-taken")


@pytest.mark.timeout(90)  # ~12 s alone on 2 cores: start-up, then FLUSH_S
def test_our_pipeline_returns_with_its_data(tmp_path: Path) -> None:
    process, log, marker = start_child(tmp_path, "ours")
    try:
        process.wait(timeout=75)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the pipeline did not return in 75 s:\n{log.read_text()[-3000:]}")
    finally:
        children.stop_child(process)
    output = log.read_text()
    assert marker.exists() and process.returncode == 0, output[-3000:]
    assert "rows: 3" in output


@pytest.mark.timeout(90)
def test_without_the_fix_the_same_pipeline_never_returns(tmp_path: Path) -> None:
    # ("disabled", ours with the fix off, takes distilabel's queue: see the test above.)
    process, log, marker = start_child(tmp_path, "plain")
    try:
        deadline = time.monotonic() + 60
        while "Generating train split" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        # The data is written; stop_logging() is next. With the fix it returns within
        # FLUSH_S; this one never does.
        assert marker.exists(), log.read_text()[-3000:]
        time.sleep(fix.FLUSH_S + 5)
        assert process.poll() is None, log.read_text()[-3000:]
    finally:
        children.stop_child(process)
    assert "rows:" not in log.read_text()
