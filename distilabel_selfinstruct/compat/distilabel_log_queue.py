"""distilabel 1.5.3 can hang forever at the end of an in-process `Pipeline.run`, in
`stop_logging()`; our pipelines give distilabel a log queue that cannot hang there.

The bug: `Pipeline.run` (`distilabel/pipeline/local.py`) logs from every worker process
into one `multiprocessing.Queue` (`self._log_queue`), drained by a `QueueListener` in the
main process. At the end of the run the worker pool is terminated (SIGTERM), then
`stop_logging()` calls `QueueListener.stop()`, which puts its sentinel (`None`) on the queue
and joins the listener thread. The queue's write lock is a semaphore shared by every
process; a worker killed while its feeder thread was writing a record (any of our steps'
threads may log at that moment) never releases it. The main process's feeder then waits for
the lock forever, the sentinel never reaches the listener, and the join never returns: the
run has written its data and its process hangs (and, were the join skipped, the
interpreter's exit would hang joining that feeder). Seen about one run in three under load
in our CI; tests/compat/test_distilabel_log_queue.py reproduces it every time with a step
that holds the lock when the pool is terminated.

The fix: `LogQueue`, the same `multiprocessing` queue except in the process that made it
(the main process): the listener's sentinel does not go through the pipe but sets an event,
after our own records are flushed (or, when the write lock stays taken for `FLUSH_S`, after
giving up on them and on joining the feeder at exit, with one warning); the listener's
blocking `get` polls, and returns the sentinel once the event is set and the pipe is empty.
Records from the workers are read exactly as before. Our pipelines' `_log_queue` property
(`compat.pipeline.with_loop_fixes`) puts a `LogQueue` where distilabel assigns its
`mp.Queue()`, with the guard of the other fixes: distilabel in `DISTILABEL_RANGE` and
`Pipeline.run`'s source hashing to `ORIGINAL_SHA256`, else distilabel's own queue and one
`RuntimeWarning`; `$SELFINSTRUCT_DISABLE_COMPAT=distilabel_log_queue` turns it off.
docs/upstream.md has the patch we would send (the same in `stop_logging`).
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.queues
import os
import queue
import sys
import threading
import time
from typing import Any, Optional

from distilabel_selfinstruct.compat._guard import ScopedFix

__all__ = ["FIX", "LogQueue", "log_queue_for"]

NAME = "distilabel_log_queue"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))
# sha256 of `inspect.getsource(distilabel.pipeline.local.Pipeline.run)`, 1.5.3.
ORIGINAL_SHA256 = "72f5e761305b40121e89eef1e49218030593d6ea92d1fdf10d69a2ca08f0d62e"
# How long the sentinel waits for the main process's own records to be written.
FLUSH_S = 5.0
# How often the listener's blocking get looks for the sentinel.
POLL_S = 0.1


class LogQueue(multiprocessing.queues.Queue):
    """A `multiprocessing` queue whose owner (the process that made it) takes the
    `QueueListener`'s sentinel without the shared write lock (see the module)."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize, ctx=mp.get_context())
        self._owner_pid: Optional[int] = os.getpid()
        self._sentinel_seen = threading.Event()

    def __setstate__(self, state: Any) -> None:
        # In a spawned worker: a plain queue (the event is not shared, and not needed).
        super().__setstate__(state)
        self._owner_pid = None

    def _owned(self) -> bool:
        return getattr(self, "_owner_pid", None) == os.getpid()

    def put(self, obj: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        if obj is None and self._owned():
            self._take_sentinel()
            return
        super().put(obj, block, timeout)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        if not block or not self._owned():
            return super().get(block, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return super().get(True, POLL_S)
            except queue.Empty:
                if self._sentinel_seen.is_set():
                    return None
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def _take_sentinel(self) -> None:
        """Lets what this process logged reach the pipe, then lets the listener stop."""
        if not self._flushed(time.monotonic() + FLUSH_S):
            # The lock is held by a process that is gone: what is still buffered here can
            # never be written, and the interpreter must not wait for it at exit.
            self.cancel_join_thread()
            sys.stderr.write(
                "distilabel's log queue is locked by a stopped worker: the last log lines"
                " of the run may be missing from its log (see"
                f" distilabel_selfinstruct.compat.{NAME})\n"
            )
        self._sentinel_seen.set()

    def _flushed(self, deadline: float) -> bool:
        """Whether this process's buffered records were all written before `deadline`."""
        while True:
            if not self._buffer:
                # The feeder writes holding the lock: once we hold it, the record it took
                # from the buffer last is in the pipe.
                if self._wlock is None:
                    return True
                if not self._wlock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    return False
                self._wlock.release()
                if not self._buffer:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def log_queue_for(value: Any) -> Any:
    """What our pipeline keeps as its `_log_queue` when distilabel assigns `value`: a
    `LogQueue` in place of the plain `multiprocessing` queue `Pipeline.run` makes, where the
    fix applies; anything else (`None`, Ray's queue) as it is."""
    if type(value) is not multiprocessing.queues.Queue or not FIX.active():
        return value
    # Nothing was put on distilabel's queue yet: `run` assigns it right after making it.
    value.close()
    return LogQueue()


def _owner() -> type:
    from distilabel.pipeline.local import Pipeline

    return Pipeline


FIX = ScopedFix(
    name=NAME,
    library="distilabel",
    owner=_owner,
    attribute="run",
    checked=DISTILABEL_RANGE,
    original_sha256=ORIGINAL_SHA256,
    fix="the log-queue fix",
    risk="a run may hang at its very end, after writing its data, in distilabel's stop_logging()",
)
