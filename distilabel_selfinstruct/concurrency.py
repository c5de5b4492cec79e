"""Many LLM requests in flight: what keeps an inference server busy.

distilabel runs a step's `process` on one batch at a time, and `Task.process` returns when
every request of the batch has its reply. An inference server with continuous batching
(vLLM, TGI, llama.cpp's server) is fast only with tens to hundreds of requests in flight,
and a batch is as slow as its longest reply: at a batch boundary the step has nothing in
flight. Bigger batches or more replicas (`StepResources`) only move that boundary.

`ConcurrentRequests` is the base of this package's LLM tasks. With `max_concurrency` > 1
and an async LLM (`OpenAILLM` and the other `AsyncLLM`s) its `process` does not wait for
the batch: it sends the batch's requests on the step's own event loop (a thread) and
returns the rows of every request that has completed by then, from this batch or earlier
ones. It blocks only until fewer than `request_window()` of its requests are unanswered
(`max_concurrency`), which paces its input (and the generator's rounds) by the replies. So requests
stream through the step, and rows leave it in the order their replies arrive.

The rows that completed while the step's input was quiet leave with the next batch it
gets; `compat.distilabel_batch_manager` makes the generator's empty heartbeat batches reach
every step, so that next batch always comes. When the stream ends (the last batch), what is
still in flight is abandoned: the Self-Instruct loop ends its stream only when the target
is met or the run stops, and an abandoned task stays unfinished in the pool for the resume.

`RequestSlots` bounds the requests in flight across the run, whatever the mix of stages:
the LLM steps of one pipeline share `max_concurrency` slots through a named pipe in the
run directory (the jobserver scheme of GNU make: a slot is a byte in the pipe). Without a
run directory each step keeps its own bound.

A streamed request that fails for a reason that may pass (a 429, a 5xx, a timeout, a
dropped connection) is sent again by `Retries`, up to the LLM's `max_retries`, after the
server's `Retry-After` or a jittered exponential back-off, without holding a slot while it
waits; the LLM client's own retries are switched off for it. The retries are counted by
reason (`take_retries`, written to the run's counters by `llm_failures`).

With `max_concurrency` = 1 (the default), a synchronous LLM (the embedded llama.cpp model)
or input/output mappings, `process` is distilabel's, one batch at a time.

(No `from __future__ import annotations` here: distilabel reads `StepInput` live.)
"""

import asyncio
import concurrent.futures
import fcntl
import functools
import inspect
import logging
import os
import random
import threading
from collections import Counter, deque
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.models.llms.base import AsyncLLM
from distilabel.steps import StepInput
from distilabel.steps.tasks import Task
from distilabel.typing import StepOutput
from distilabel.utils.dicts import group_dicts
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct.loop_pipeline import JoinsLoopPipeline
from distilabel_selfinstruct.server_errors import retry_after_s, retry_reason

SLOTS_PREFIX = "llm-slots"


def _process_start_time(pid: int) -> Optional[str]:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), `None` if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class RequestSlots:
    """At most `limit` requests in flight, shared by the processes of one pipeline run.

    Args:
        limit: the slots.
        directory: where the shared pipe lives (the run directory); `None` keeps the bound
            to this process.

    The pipe is named after the pipeline's main process (the parent of the step processes)
    and its start time, created and filled with `limit` bytes by the first step that needs
    it. A byte taken is a request in flight; it goes back when the request ends. The pipe's
    content lives only while some process holds it open, so a killed run leaves no slots
    taken; its file is removed by the next run.
    """

    def __init__(self, limit: int, directory: Optional[Path]) -> None:
        self.limit = max(1, limit)
        self.directory = directory
        self._fd: Optional[int] = None
        self._local: Optional[asyncio.Semaphore] = None
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.directory is None:
            self._local = asyncio.Semaphore(self.limit)
            return
        parent = os.getppid()
        path = self.directory / f"{SLOTS_PREFIX}-{parent}-{_process_start_time(parent)}"
        with open(self.directory / f"{SLOTS_PREFIX}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            created = not path.exists()
            if created:
                os.mkfifo(path, 0o600)
            self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            if created:
                os.write(self._fd, b"s" * self.limit)
                self._remove_stale(path)

    def _remove_stale(self, current: Path) -> None:
        assert self.directory is not None
        for path in self.directory.glob(f"{SLOTS_PREFIX}-*-*"):
            if path == current:
                continue
            _, pid, started = path.name.rsplit("-", 2)
            if not pid.isdigit() or _process_start_time(int(pid)) != started:
                path.unlink(missing_ok=True)

    async def acquire(self) -> None:
        if self._local is not None:
            await self._local.acquire()
            return
        while not self._take():
            waiter = asyncio.get_running_loop().create_future()
            if not self._waiters:
                assert self._loop is not None and self._fd is not None
                self._loop.add_reader(self._fd, self._wake)
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._stop_reading_if_idle()

    def _take(self) -> bool:
        assert self._fd is not None
        try:
            return len(os.read(self._fd, 1)) == 1
        except BlockingIOError:
            return False

    def _wake(self) -> None:
        # Readable: let every waiter try (another process may take the byte first).
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._stop_reading_if_idle()

    def _stop_reading_if_idle(self) -> None:
        if not self._waiters and self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)

    def release(self) -> None:
        if self._local is not None:
            self._local.release()
        elif self._fd is not None:
            os.write(self._fd, b"s")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Retries:
    """Sends a failed request again while its failure may pass (`server_errors.retry_reason`:
    a rate limit, a server error, a timeout, a dropped connection), up to `limit` times,
    after the server's `Retry-After` or an exponential back-off with full jitter; counts
    the retries by reason. The request waits without its slot, so the others go on.

    Args:
        limit: retries per request.
        rng: the owning step's seeded `random.Random`, for the jitter.
    """

    base_s = 0.5
    cap_s = 30.0
    retry_after_cap_s = 60.0

    def __init__(self, limit: int, rng: random.Random) -> None:
        self.limit = limit
        self._rng = rng
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def delay(self, error: BaseException, attempt: int) -> Optional[float]:
        """Seconds to wait before retry number `attempt + 1`; `None`: give up."""
        reason = retry_reason(error)
        if reason is None or attempt >= self.limit:
            return None
        with self._lock:
            self._counts[reason] += 1
        after = retry_after_s(error)
        if after is not None:
            return min(after, self.retry_after_cap_s)
        return self._rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))

    def take(self) -> Counter[str]:
        """The retries counted since the last call."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts


class _Requests:
    """The step's event loop (a daemon thread) and its requests in flight."""

    # How often a step blocked on its window asks whether the stream has ended.
    ENDED_POLL_S = 0.5

    def __init__(
        self,
        slots: RequestSlots,
        own_limit: Optional[int] = None,
        retries: Optional[Retries] = None,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.slots = slots
        self.retries = retries
        # This step's share of the run's slots (`None`: all of them).
        self._own = asyncio.Semaphore(own_limit) if own_limit is not None else None
        self.pending: list[tuple[dict[str, Any], concurrent.futures.Future[Any]]] = []
        self._calls: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result()

    async def _open(self) -> None:
        self.slots.open(self.loop)

    def submit(self, row: dict[str, Any], request: Callable[[], Awaitable[Any]]) -> None:
        """Sends `request()` once a slot is free (made then, so a request cancelled before
        it started leaves no coroutine behind)."""
        self.pending.append((row, asyncio.run_coroutine_threadsafe(self._call(request), self.loop)))

    async def _call(self, request: Callable[[], Awaitable[Any]]) -> Any:
        call = asyncio.current_task()
        assert call is not None
        self._calls.add(call)
        try:
            attempt = 0
            while True:
                try:
                    if self._own is None:
                        return await self._in_slot(request)
                    async with self._own:
                        return await self._in_slot(request)
                except Exception as error:
                    delay = self.retries.delay(error, attempt) if self.retries else None
                    if delay is None:
                        raise
                    attempt += 1
                    await asyncio.sleep(delay)
        finally:
            self._calls.discard(call)

    async def _in_slot(self, request: Callable[[], Awaitable[Any]]) -> Any:
        await self.slots.acquire()
        try:
            return await request()
        finally:
            self.slots.release()

    def completed(
        self, window: int, ended: Optional[Callable[[], bool]] = None
    ) -> list[tuple[dict[str, Any], concurrent.futures.Future[Any]]]:
        """The requests that have completed, after waiting until fewer than `window` are
        unanswered (so the step takes no more input than it can have in flight). While it
        waits it asks `ended()` every `ENDED_POLL_S`; once the stream has ended, it abandons
        the rest (`abandon`) instead of waiting for replies nobody will use."""
        done: list[tuple[dict[str, Any], concurrent.futures.Future[Any]]] = []
        while True:
            done += [(row, future) for row, future in self.pending if future.done()]
            self.pending = [(row, future) for row, future in self.pending if not future.done()]
            if len(self.pending) < window:
                return done
            if ended is not None and ended():
                self.abandon()
                return done
            concurrent.futures.wait(
                [future for _, future in self.pending],
                timeout=self.ENDED_POLL_S if ended is not None else None,
                return_when=concurrent.futures.FIRST_COMPLETED,
            )

    def abandon(self) -> None:
        """Cancels the requests in flight (their slots go back) and forgets their rows."""
        self.pending = []
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._cancel_calls(), self.loop).result(timeout=10)

    async def _cancel_calls(self) -> None:
        calls = list(self._calls)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    def close(self) -> None:
        """Abandons the requests in flight; their slots go back to the run's other steps
        before the pipe closes (closed first, they would be lost to the run for good)."""
        self.pending = []

        async def _close() -> None:
            await self._cancel_calls()
            self.slots.close()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(_close(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class ConcurrentRequests(JoinsLoopPipeline, Task):
    """A task that keeps up to `max_concurrency` LLM requests in flight across batches
    (see the module docstring).

    Attributes:
        max_concurrency: LLM requests in flight at most, shared by the run's LLM steps when
            they have a run directory; 1 sends one batch at a time, as distilabel does.

    Runtime parameters:
        - `max_concurrency`: LLM requests in flight at most (async LLMs only).
    """

    max_concurrency: RuntimeParameter[int] = Field(
        default=1,
        description="LLM requests in flight at most, across the run's LLM steps (async LLMs"
        " such as OpenAILLM; 1 = one batch at a time).",
    )

    _requests: Optional[_Requests] = PrivateAttr(default=None)
    _retry_limit: int = PrivateAttr(default=0)

    def slots_directory(self) -> Optional[Path]:
        """Where the run's shared request slots live; `None`: this step's own bound."""
        return None

    def stream_ended(self) -> bool:
        """Whether the run's stream has ended, so replies still awaited will not be used
        (a step then stops waiting for them); `False`: always wait, as distilabel does."""
        return False

    def request_window(self) -> int:
        """This step's own requests in flight at most, and how many unanswered ones it
        takes new input beside (the run's slots bound all steps' requests together)."""
        return self.max_concurrency

    @property
    def streams_requests(self) -> bool:
        """Whether `process` keeps requests in flight across batches."""
        return (
            self.max_concurrency > 1
            and isinstance(self.llm, AsyncLLM)
            and not self.input_mappings
            and not self.output_mappings
            and (
                self.num_generations == 1
                or "num_generations" in inspect.signature(self.llm.agenerate).parameters
            )
        )

    def load(self) -> None:
        retries = getattr(self.llm, "max_retries", None) if self.streams_requests else None
        if isinstance(retries, int) and retries > 0:
            # The client's own retries (OpenAILLM's) would wait holding a request slot,
            # uncounted: the step retries instead (`Retries`), as many times.
            self.llm.max_retries = 0
            try:
                super().load()
            finally:
                self.llm.max_retries = retries
            self._retry_limit = retries
        else:
            super().load()
        if self.streams_requests:
            # httpx logs every request at INFO: thousands a minute, carried through
            # distilabel's log queue. Its warnings still reach the log.
            logging.getLogger("httpx").setLevel(logging.WARNING)

    def unload(self) -> None:
        if self._requests is not None:
            self._requests.close()
            self._requests = None
        super().unload()

    def process_applying_mappings(self, *args: list[dict[str, Any]]) -> StepOutput:
        # distilabel's version maps output rows onto the batch's input rows by position,
        # which rows of earlier batches (and an empty batch) do not have; streaming runs
        # only without mappings, so there is nothing to map.
        if self.streams_requests:
            yield from self.process(args[0])
        else:
            yield from super().process_applying_mappings(*args)

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Sends the batch's requests and yields the rows of every completed one (or, when
        not streaming, distilabel's `Task.process`)."""
        if not self.streams_requests:
            yield from super().process(inputs)
            return
        if self._requests is None:
            self._requests = _Requests(
                RequestSlots(self.max_concurrency, self.slots_directory()),
                self.request_window(),
                Retries(self._retry_limit, random.Random(f"retries:{self.name}")),
            )
        requests = self._requests
        if inputs and self.stream_ended():
            # Rows that reach the step after the end (its last batches) would only queue
            # requests on the server for tasks the run abandons anyway.
            requests.abandon()
            yield []
            return
        kwargs = self.llm.get_generation_kwargs()
        for row in inputs:
            requests.submit(row, functools.partial(self._request, self.format_input(row), kwargs))
        rows: list[dict[str, Any]] = []
        for row, future in requests.completed(self.request_window(), self.stream_ended):
            error = future.exception()
            if error is not None:
                rows.extend(self.request_failed(row, error))
            else:
                rows.extend(self.rows_for(row, future.result()))
        yield rows

    def take_retries(self) -> Counter[str]:
        """The retries of this step's streamed requests since the last call, by reason."""
        if self._requests is None or self._requests.retries is None:
            return Counter()
        return self._requests.retries.take()

    def _request(self, formatted: Any, kwargs: dict[str, Any]) -> Awaitable[Any]:
        return self.llm.agenerate(input=formatted, num_generations=self.num_generations, **kwargs)

    def rows_for(self, row: dict[str, Any], output: Any) -> list[dict[str, Any]]:
        """The output rows for one input row and its LLM output, as `Task.process` makes
        them."""
        formatted = self._format_outputs(output, row)
        if self.group_generations:
            return [{**row, **group_dicts(*formatted), "model_name": self.llm.model_name}]
        return [{**row, **item, "model_name": self.llm.model_name} for item in formatted]

    def request_failed(self, row: dict[str, Any], error: BaseException) -> list[dict[str, Any]]:
        """The rows for a request that raised: by default the row with the task's outputs
        `None`, as distilabel does for a failed batch."""
        self._logger.warning(f"⚠️ A request of step '{self.name}' failed: {error}")
        return [{**row, **dict.fromkeys(self.get_outputs()), "model_name": self.llm.model_name}]
