"""Many LLM requests in flight: what keeps an inference server busy.

distilabel runs a step's `process` on one batch at a time, and `Task.process` returns when
every request of the batch has its reply. An inference server with continuous batching
(vLLM, TGI, llama.cpp's server) is fast only with tens to hundreds of requests in flight,
and a batch is as slow as its longest reply: at a batch boundary the step has nothing in
flight. Bigger batches or more replicas (`StepResources`) only move that boundary.

This module holds the parts `llm_task.LLMTask` (the base of this package's LLM tasks)
composes to stream requests across batches; it decides nothing about rows:

* `RequestStream`: one step's requests in flight, on the step's own event loop (a thread).
  The task sends a batch's requests (`submit`) and takes back whichever have completed, from
  this batch or earlier ones (`completed`), blocking only while `window` or more of them are
  unanswered. That paces the step's input (and the generator's rounds) by the replies, so
  requests stream through the step and rows leave it in the order their replies arrive.
* `RequestSlots`: at most `max_concurrency` requests in flight across the run, whatever the
  mix of stages. The LLM steps of one pipeline share the slots through a named pipe in the
  run directory (the jobserver scheme of GNU make: a slot is a byte in the pipe), removed
  when the last step closes it. Without a run directory each step keeps its own bound.
* `Retries`: a streamed request that fails for a reason that may pass (a 429, a 5xx, a
  timeout, a dropped connection) is sent again, up to the LLM's `max_retries`, after the
  server's `Retry-After` or a jittered exponential back-off, without holding a slot while it
  waits; the LLM client's own retries are switched off for it (`client_retries_off`). The
  retries are counted by reason (`RequestStream.take_retries`).

The rows that completed while the step's input was quiet leave with the next batch it
gets; `compat.distilabel_batch_manager` makes the generator's empty heartbeat batches reach
every step, so that next batch always comes. When the stream ends, what is still in flight
is abandoned: the Self-Instruct loop ends its stream only when the target is met or the
run stops, and an abandoned task stays unfinished in the pool for the resume.

Requests stream only where `can_stream` says so: `max_concurrency` > 1, an async LLM
(`OpenAILLM` and the other `AsyncLLM`s) and no input/output mappings. Otherwise the task
sends one batch at a time, as distilabel does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import inspect
import logging
import os
import random
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from distilabel.models.llms.base import LLM, AsyncLLM

from distilabel_selfinstruct.server_errors import retry_after_s, retry_reason

SLOTS_PREFIX = "llm-slots"
# Beside a run's slots pipe: how many of the run's processes have it open (see
# `RequestSlots.close`).
HOLDERS_SUFFIX = ".holders"
# The HTTP clients' loggers: they log every request at INFO (httpx, and httpx2 under newer
# openai releases).
HTTP_LOGGERS = ("httpx", "httpx2")


def can_stream(llm: LLM, max_concurrency: int, num_generations: int, mapped: bool) -> bool:
    """Whether a task with this LLM and settings can keep requests in flight across
    batches: more than one request at a time, an async LLM, no input/output mappings
    (`mapped`; distilabel maps output rows onto the batch's input rows by position), and an
    LLM that takes `num_generations` when more than one is asked for."""
    return (
        max_concurrency > 1
        and isinstance(llm, AsyncLLM)
        and not mapped
        and (
            num_generations == 1 or "num_generations" in inspect.signature(llm.agenerate).parameters
        )
    )


def quiet_http_logs() -> None:
    """Keeps the HTTP clients' per-request INFO lines out of the log: thousands a minute
    when requests stream, each carried through distilabel's log queue to the main process
    and rendered there. Their warnings still reach the log."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def client_retries_off(llm: LLM) -> Iterator[int]:
    """While the block runs (the LLM's `load`, which builds its client), the LLM's own
    `max_retries` is 0; yields the retries it had, for `Retries` to make instead. The
    client's retries would wait holding a request slot, uncounted."""
    retries = getattr(llm, "max_retries", None)
    if not isinstance(retries, int) or retries <= 0:
        yield 0
        return
    llm.max_retries = 0  # type: ignore[attr-defined]
    try:
        yield retries
    finally:
        llm.max_retries = retries  # type: ignore[attr-defined]


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
    taken. A count beside it (`HOLDERS_SUFFIX`) says how many processes have it open; the
    last to close it removes both files. A run killed before its steps closed them leaves
    them behind, and the next run in the directory removes them.
    """

    def __init__(self, limit: int, directory: Optional[Path]) -> None:
        self.limit = max(1, limit)
        self.directory = directory
        self._fd: Optional[int] = None
        self._path: Optional[Path] = None
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
        with self._locked():
            created = not path.exists()
            if created:
                os.mkfifo(path, 0o600)
            self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            self._path = path
            if created:
                os.write(self._fd, b"s" * self.limit)
                self._remove_stale(path)
            self._count_holder(path, +1)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The run directory's slots lock: one process at a time creates, joins or leaves
        a pipe."""
        assert self.directory is not None
        with open(self.directory / f"{SLOTS_PREFIX}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    @staticmethod
    def _count_holder(path: Path, change: int) -> int:
        """Adds `change` to the pipe's holder count (under the lock); the new count."""
        holders = path.with_name(path.name + HOLDERS_SUFFIX)
        try:
            count = int(holders.read_text() or 0)
        except (OSError, ValueError):
            count = 0
        count = max(0, count + change)
        holders.write_text(str(count))
        return count

    def _remove_stale(self, current: Path) -> None:
        assert self.directory is not None
        for path in self.directory.glob(f"{SLOTS_PREFIX}-*-*"):
            name = path.name.removesuffix(HOLDERS_SUFFIX)
            if name == current.name:
                continue
            _, pid, started = name.rsplit("-", 2)
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
        """Closes this process's end of the pipe; the last holder removes it, so a run that
        ends leaves no pipe in its directory."""
        if self._fd is None:
            return
        if self._path is None or self.directory is None:
            os.close(self._fd)
            self._fd = None
            return
        with self._locked():
            os.close(self._fd)
            self._fd = None
            if self._count_holder(self._path, -1) == 0:
                self._path.unlink(missing_ok=True)
                self._path.with_name(self._path.name + HOLDERS_SUFFIX).unlink(missing_ok=True)


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


# A request handed back by `RequestStream.completed`: what the caller submitted with it,
# and its future (done: a result or an exception).
Completed = tuple[Any, "concurrent.futures.Future[Any]"]


class RequestStream:
    """One step's LLM requests in flight across its batches: its event loop (a daemon
    thread), the run's slots, its own share of them, and the retries.

    Args:
        slots: the run's request slots.
        own_limit: this step's requests in flight at most (`None`: as many as the slots).
        retries: how failed requests are retried (`None`: never).
    """

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
        # Completed requests wait in `_done` (filled by the futures' callbacks) until taken;
        # `_unanswered` counts the others. `_epoch` tells the callbacks of abandoned
        # requests apart. One condition guards the three, so `completed` waits for the
        # next reply without scanning every request in flight.
        self._changed = threading.Condition()
        self._done: deque[Completed] = deque()
        self._unanswered = 0
        self._epoch = 0
        self._calls: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result()

    async def _open(self) -> None:
        self.slots.open(self.loop)

    @property
    def unanswered(self) -> int:
        """Requests sent and not answered yet."""
        with self._changed:
            return self._unanswered

    def submit(self, item: Any, request: Callable[[], Awaitable[Any]]) -> None:
        """Sends `request()` once a slot is free (made then, so a request cancelled before
        it started leaves no coroutine behind); `item` comes back with its reply."""
        future = asyncio.run_coroutine_threadsafe(self._call(request), self.loop)
        with self._changed:
            self._unanswered += 1
            epoch = self._epoch
        future.add_done_callback(lambda done: self._answered(epoch, item, done))

    def _answered(self, epoch: int, item: Any, future: concurrent.futures.Future[Any]) -> None:
        with self._changed:
            if epoch != self._epoch:
                return  # abandoned: nobody waits for it
            self._unanswered -= 1
            self._done.append((item, future))
            self._changed.notify_all()

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

    def completed(self, window: int, ended: Optional[Callable[[], bool]] = None) -> list[Completed]:
        """The requests that have completed, after waiting until fewer than `window` are
        unanswered (so the step takes no more input than it can have in flight). While it
        waits it asks `ended()` every `ENDED_POLL_S`; once the stream has ended, it abandons
        the rest (`abandon`) instead of waiting for replies nobody will use."""
        taken: list[Completed] = []
        while True:
            with self._changed:
                taken.extend(self._done)
                self._done.clear()
                if self._unanswered < window:
                    return taken
            if ended is not None and ended():
                self.abandon()
                return taken
            with self._changed:
                if not self._done and self._unanswered >= window:
                    self._changed.wait(self.ENDED_POLL_S if ended is not None else None)

    def take_retries(self) -> Counter[str]:
        """The retries of this stream's requests since the last call, by reason."""
        return self.retries.take() if self.retries is not None else Counter()

    def _forget(self) -> None:
        with self._changed:
            self._epoch += 1
            self._unanswered = 0
            self._done.clear()

    def abandon(self) -> None:
        """Cancels the requests in flight (their slots go back) and forgets their items."""
        self._forget()
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
        self._forget()

        async def _close() -> None:
            await self._cancel_calls()
            self.slots.close()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(_close(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
