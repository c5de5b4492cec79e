"""Streamed LLM requests: `LLMTask` with `RequestStream` and the run-wide `RequestSlots`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

import httpx
import openai
import pytest
from distilabel.models.llms.base import AsyncLLM
from distilabel.models.llms.utils import prepare_output
from pydantic import PrivateAttr

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stop import LLM_FAILURE, STOP_REASON
from distilabel_selfinstruct.concurrency import SLOTS_PREFIX, RequestSlots, RequestStream
from distilabel_selfinstruct.instructions import GenerateInstructions
from distilabel_selfinstruct.testing import ScriptedLLM
from tests.test_llm_failures import request, status_error

pytestmark = pytest.mark.timeout(60)


class AsyncScriptedLLM(AsyncLLM):
    """Replies after `delay_s`, counting the requests it has in flight."""

    delay_s: float = 0.05
    fail_with: Optional[Any] = None
    _in_flight: int = PrivateAttr(default=0)
    _max_in_flight: int = PrivateAttr(default=0)
    _calls: int = PrivateAttr(default=0)

    def load(self) -> None:
        super().load()

    @property
    def model_name(self) -> str:
        return "async-scripted"

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:  # type: ignore[override]
        self._calls += 1
        number = self._calls
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail_with is not None:
                raise self.fail_with
            text = f"9. Explain topic number {number} to a child.\n10. Describe item {number}."
            return prepare_output([text], input_tokens=[40], output_tokens=[12])
        finally:
            self._in_flight -= 1


def rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "prompt_id": f"r0p{i}",
            "bootstrap_round": 0,
            "demonstrations": ["Name three colors.", "Sort 3, 1, 2."],
            "demonstration_ids": ["seed_task_0", "seed_task_1"],
        }
        for i in range(start, start + count)
    ]


def task(
    llm: Any, max_concurrency: int, run: Optional[BootstrapRun] = None
) -> GenerateInstructions:
    step = GenerateInstructions(
        name="generate_instructions", llm=llm, run=run, max_concurrency=max_concurrency
    )
    step.load()
    return step


def drain(step: GenerateInstructions, expected: int, timeout_s: float = 10.0) -> list[dict]:
    """Calls the step with empty batches (the flush heartbeats) until `expected` rows came."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < expected and time.monotonic() < deadline:
        out.extend(next(step.process_applying_mappings([])))
        time.sleep(0.01)
    return out


def test_a_batch_returns_before_its_replies_and_they_come_with_later_batches() -> None:
    llm = AsyncScriptedLLM(delay_s=2.0)
    step = task(llm, max_concurrency=16)
    assert step.streams_requests
    started = time.monotonic()
    first = next(step.process_applying_mappings(rows(4)))
    assert first == [] and time.monotonic() - started < 1.0  # no reply waited for
    later = drain(step, 4)
    assert sorted(row["prompt_id"] for row in later) == [f"r0p{i}" for i in range(4)]
    assert all(row["instructions"] for row in later)
    assert all(row["model_name"] == "async-scripted" for row in later)
    step.unload()


def in_flight_at_most(step: GenerateInstructions, llm: AsyncScriptedLLM) -> int:
    step.load()
    out: list[dict] = []
    for start in range(0, 12, 4):
        out.extend(next(step.process_applying_mappings(rows(4, start))))
    out.extend(drain(step, 12 - len(out)))
    assert len(out) == 12
    step.unload()
    return llm._max_in_flight


def test_requests_in_flight_never_exceed_max_concurrency() -> None:
    llm = AsyncScriptedLLM(delay_s=0.05)
    step = GenerateInstructions(name="generate_instructions", llm=llm, max_concurrency=3)
    assert in_flight_at_most(step, llm) == 3


def test_one_call_at_a_time_without_concurrency_or_for_a_synchronous_llm() -> None:
    assert not task(AsyncScriptedLLM(), max_concurrency=1).streams_requests
    scripted = ScriptedLLM(default_reply="9. Explain tides.\n10. Name a river.")
    step = task(scripted, max_concurrency=16)
    assert not step.streams_requests
    (out,) = list(step.process_applying_mappings(rows(2)))
    assert len(out) == 2  # distilabel's own process: the batch's rows, at once


class FlakyLLM(AsyncScriptedLLM):
    """Fails each prompt's first requests with `failures` (in turn), then replies."""

    max_retries: int = 6
    failures: list[Any] = []
    _attempts: dict[str, int] = PrivateAttr(default_factory=dict)

    async def agenerate(self, input: Any, num_generations: int = 1, **kwargs: Any) -> Any:  # type: ignore[override]
        key = str(input)
        attempt = self._attempts.get(key, 0)
        self._attempts[key] = attempt + 1
        if attempt < len(self.failures):
            raise self.failures[attempt]
        return await super().agenerate(input, num_generations, **kwargs)


def distinct_rows(count: int) -> list[dict[str, Any]]:
    """Rows whose prompts differ (`FlakyLLM` counts attempts per prompt)."""
    out = rows(count)
    for number, row in enumerate(out):
        row["demonstrations"] = [*row["demonstrations"], f"Name {number + 2} rivers."]
    return out


def flaky_failures() -> list[BaseException]:
    rate_limited = openai.RateLimitError(
        "Error code: 429",
        response=httpx.Response(429, headers={"Retry-After": "0"}, request=request()),
        body=None,
    )
    return [
        rate_limited,
        status_error(openai.InternalServerError, 503, "Error code: 503"),
        openai.APITimeoutError(request=request()),
        openai.APIConnectionError(request=request()),
    ]


def test_rate_limits_server_errors_timeouts_and_resets_are_retried_and_counted() -> None:
    llm = FlakyLLM(delay_s=0.01, failures=flaky_failures())
    step = task(llm, max_concurrency=4)
    assert llm.max_retries == 6  # the step retries instead of the client, as many times
    out = next(step.process_applying_mappings(distinct_rows(3)))
    out += drain(step, 3 - len(out), timeout_s=30)
    assert sorted(row["prompt_id"] for row in out) == ["r0p0", "r0p1", "r0p2"]
    assert all(row["instructions"] for row in out)
    assert step.take_retries() == {
        "rate_limited": 3, "server_error": 3, "timeout": 3, "connection": 3
    }  # fmt: skip
    assert step.take_retries() == {}
    step.unload()


def test_a_request_that_keeps_failing_gives_up_after_max_retries() -> None:
    llm = FlakyLLM(delay_s=0.01, max_retries=2, failures=flaky_failures())
    step = task(llm, max_concurrency=4)
    out = next(step.process_applying_mappings(rows(1)))
    (row,) = out + drain(step, 1 - len(out), timeout_s=30)
    assert row["instructions"] is None  # its row, counted downstream as a reply that failed
    assert step.take_retries() == {"rate_limited": 1, "server_error": 1}
    step.unload()


def test_a_request_refused_for_itself_is_not_retried() -> None:
    refused = status_error(openai.BadRequestError, 400, "Error code: 400")
    llm = FlakyLLM(delay_s=0.01, failures=[refused])
    step = task(llm, max_concurrency=4)
    out = next(step.process_applying_mappings(rows(1)))
    (row,) = out + drain(step, 1 - len(out))
    assert row["instructions"] is None and step.take_retries() == {}
    step.unload()


def test_a_failed_request_is_its_row_with_empty_outputs() -> None:
    error = openai.BadRequestError("Error code: 400", response=_response(400), body=None)
    step = task(AsyncScriptedLLM(delay_s=0.01, fail_with=error), max_concurrency=4)
    next(step.process_applying_mappings(rows(1)))
    (row,) = drain(step, 1)
    assert row["prompt_id"] == "r0p0" and row["instructions"] is None
    step.unload()


def test_a_server_failure_leaves_the_row_unfinished_and_records_it(tmp_path: Path) -> None:
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)
    error = status_error(openai.AuthenticationError, 401, "Error code: 401")
    step = task(AsyncScriptedLLM(delay_s=0.01, fail_with=error), max_concurrency=4, run=run)
    next(step.process_applying_mappings(rows(2)))
    time.sleep(0.2)
    assert next(step.process_applying_mappings([])) == []  # no row: both stay unfinished
    with run.open_store() as store:
        assert "refused the API key" in (store.meta(LLM_FAILURE) or "")
    step.unload()


def test_a_step_waiting_on_its_window_stops_waiting_once_the_stream_has_ended(
    tmp_path: Path,
) -> None:
    # At the end of a run the steps used to wait for every reply in flight, minutes on a
    # server that answers one request at a time, though the run uses none of them.
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)
    llm = AsyncScriptedLLM(delay_s=30.0)
    step = task(llm, max_concurrency=2, run=run)
    # One thread for every call, as in a step's process (its pool store is per thread).
    thread = concurrent.futures.ThreadPoolExecutor(1)
    waiting = thread.submit(lambda: next(step.process_applying_mappings(rows(2))))
    time.sleep(1.0)
    assert not waiting.done()  # two unanswered requests: its window is full
    with run.open_store() as store:
        store.set_meta(STOP_REASON, "stopped at 0 of 3 tasks: round limit reached")
    started = time.monotonic()
    assert waiting.result(timeout=10) == []
    assert time.monotonic() - started < 3.0
    assert llm._in_flight == 0  # the requests were cancelled, their slots given back
    # A batch that arrives after the end queues nothing.
    late = thread.submit(lambda: next(step.process_applying_mappings(rows(1, start=5))))
    assert late.result(timeout=10) == []
    assert llm._calls == 2
    thread.submit(step.unload).result(timeout=30)
    thread.shutdown()


def _response(code: int) -> Any:
    return httpx.Response(code, request=request())


# -- RequestSlots -----------------------------------------------------------------------


def _hold_slots(directory: str, limit: int, counter: Any, peak: Any) -> None:
    async def main() -> None:
        slots = RequestSlots(limit, Path(directory))
        slots.open(asyncio.get_running_loop())

        async def one() -> None:
            await slots.acquire()
            with counter.get_lock():
                counter.value += 1
                peak.value = max(peak.value, counter.value)
            await asyncio.sleep(0.02)
            with counter.get_lock():
                counter.value -= 1
            slots.release()

        await asyncio.gather(*(one() for _ in range(20)))
        slots.close()

    asyncio.run(main())


def test_slots_bound_the_requests_of_several_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    counter, peak = context.Value("i", 0), context.Value("i", 0)
    # The processes share a parent (this one), as a pipeline's step processes do.
    workers = [
        context.Process(target=_hold_slots, args=(str(tmp_path), 3, counter, peak))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert peak.value == 3
    # The last process to close the pipe removed it.
    assert list(tmp_path.glob(f"{SLOTS_PREFIX}-*")) == []


def test_a_dead_runs_slots_file_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / f"{SLOTS_PREFIX}-999999999-1"
    os.mkfifo(stale)

    async def open_slots() -> None:
        slots = RequestSlots(2, tmp_path)
        slots.open(asyncio.get_running_loop())
        slots.close()

    asyncio.run(open_slots())
    assert not stale.exists()
    assert list(tmp_path.glob(f"{SLOTS_PREFIX}-*")) == []


def test_a_step_that_abandons_its_requests_gives_their_slots_back(tmp_path: Path) -> None:
    # The instruction step ends its stream with requests in flight: the slots they held
    # must reach the run's other steps, or those wait for them forever.
    other = RequestStream(RequestSlots(2, tmp_path))
    leaving = RequestStream(RequestSlots(2, tmp_path))
    try:
        started = threading.Semaphore(0)

        async def forever() -> None:
            started.release()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                # As an HTTP client does: closing the connection takes a few loop turns.
                await asyncio.sleep(0.05)
                raise

        for number in range(2):
            leaving.submit({"n": number}, forever)
        assert started.acquire(timeout=5) and started.acquire(timeout=5)
        leaving.close()

        async def quick() -> str:
            return "done"

        for number in range(2):
            other.submit({"n": number}, quick)
        deadline = time.monotonic() + 5
        done: list = []
        while len(done) < 2 and time.monotonic() < deadline:
            done += other.completed(3)
            time.sleep(0.01)
        assert [future.result() for _, future in done] == ["done", "done"]
    finally:
        other.close()


def test_without_a_directory_the_bound_is_this_process_own() -> None:
    async def main() -> int:
        slots = RequestSlots(2, None)
        slots.open(asyncio.get_running_loop())
        await slots.acquire()
        await slots.acquire()
        third = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0.05)
        blocked = not third.done()
        slots.release()
        await asyncio.wait_for(third, 1)
        return blocked

    assert asyncio.run(main())


def test_the_pipe_stays_while_a_holder_has_it_and_goes_with_the_last(tmp_path: Path) -> None:
    async def main() -> tuple[int, int]:
        first, second = RequestSlots(2, tmp_path), RequestSlots(2, tmp_path)
        first.open(asyncio.get_running_loop())
        second.open(asyncio.get_running_loop())
        first.close()
        left_open = len(list(tmp_path.glob(f"{SLOTS_PREFIX}-*")))
        await second.acquire()  # the other holder's slots still work
        second.release()
        second.close()
        return left_open, len(list(tmp_path.glob(f"{SLOTS_PREFIX}-*")))

    assert asyncio.run(main()) == (2, 0)  # the pipe and its holder count, then nothing


def test_a_step_that_streamed_leaves_no_pipe_in_the_run_directory(tmp_path: Path) -> None:
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)
    step = task(AsyncScriptedLLM(delay_s=0.01), max_concurrency=4, run=run)
    next(step.process_applying_mappings(rows(2)))
    assert len(drain(step, 2)) == 2
    assert list(tmp_path.glob(f"{SLOTS_PREFIX}-*"))  # the run's slots, while it runs
    step.unload()
    assert list(tmp_path.glob(f"{SLOTS_PREFIX}-*")) == []


@pytest.mark.timeout(300)
def test_distilabel_running_a_saved_yaml_leaves_no_slots_pipe(tmp_path: Path) -> None:
    # `distilabel pipeline run` of a saved YAML used to leave `llm-slots-<pid>-<n>` behind:
    # only the next run in the directory removed it.
    from distilabel.models.llms import OpenAILLM

    from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
    from tests.faults import fake_server
    from tests.scripted import distilabel_command

    output = tmp_path / "run"
    with fake_server("ok") as base_url:
        llm = OpenAILLM(model="fake", base_url=base_url, api_key="sk-slots")
        pipeline = build_pipeline(
            llm=llm, num_instructions=3, output_dir=output, name="t-slots", max_concurrency=4
        )
        config = tmp_path / "pipeline.yaml"
        pipeline.save(config, format="yaml")
        env = {
            **os.environ,
            "OPENAI_API_KEY": "sk-slots",
            "DISTILABEL_CACHE_DIR": str(tmp_path / "cache"),
        }
        result = subprocess.run(
            [*distilabel_command(), "--config", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert pool_path_for(output).exists()  # the run directory the slots lived in
    assert list(output.rglob(f"{SLOTS_PREFIX}-*")) == []
