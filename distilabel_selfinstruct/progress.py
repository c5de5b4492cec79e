"""A run a person can watch: a live display (or plain status lines) read from the pool store.

The pool store already holds everything worth showing (finished tasks, accepted instructions,
drops per reason, rounds, prompts), so the display only polls it; it never talks to the
pipeline's processes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from rich.console import Console
from rich.live import Live
from rich.table import Table

from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.summary import candidate_drop_count, estimated_llm_calls


@dataclass
class RunProgress:
    """What a run has done so far, as one reading of its pool store."""

    target: int
    finished: int
    accepted: int
    candidates: int
    rounds: int
    llm_calls: int
    elapsed_s: float
    top_drops: list[tuple[str, int]] = field(default_factory=list)
    eta_s: Optional[float] = None

    @classmethod
    def read(
        cls,
        pool_path: str | Path,
        target: int,
        elapsed_s: float,
        finished_at_start: int = 0,
        top: int = 3,
    ) -> RunProgress:
        """Reads the store; the time left is estimated from the finishing rate of this
        invocation (`finished_at_start` were there before it began)."""
        with open_pool_store(pool_path) as store:
            finished = store.completed_count()
            accepted = store.count("machine")
            drops = store.drop_counts()
            counters = store.counters()
        done_now = finished - finished_at_start
        eta = None
        if finished >= target:
            eta = 0.0
        elif done_now > 0:
            eta = (target - finished) * elapsed_s / done_now
        return cls(
            target=target,
            finished=finished,
            accepted=accepted,
            candidates=accepted + candidate_drop_count(drops),
            rounds=counters.get("rounds", 0),
            llm_calls=estimated_llm_calls(counters, accepted),
            elapsed_s=elapsed_s,
            top_drops=[(f"{stage}/{reason}", n) for (stage, reason), n in drops.most_common(top)],
            eta_s=eta,
        )

    def status_line(self) -> str:
        """One plain line, for logs and terminals that are not interactive."""
        # Reasons without their stage keep the line short; the summary has both.
        drops = ", ".join(f"{key.split('/')[-1]} {n}" for key, n in self.top_drops) or "none"
        return (
            f"[{_duration(self.elapsed_s)}] {self.finished}/{self.target} finished"
            f" · {self.accepted} accepted of {self.candidates} candidates"
            f" · round {self.rounds} · {self.llm_calls} LLM calls"
            f" · drops: {drops} · left {_duration(self.eta_s)}"
        )

    def table(self) -> Table:
        """The live display."""
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("finished tasks", f"{self.finished} / {self.target}")
        table.add_row("accepted instructions", str(self.accepted))
        table.add_row("candidates seen", str(self.candidates))
        table.add_row("rounds", str(self.rounds))
        table.add_row("LLM calls", str(self.llm_calls))
        table.add_row(
            "top drop reasons", ", ".join(f"{key} {n}" for key, n in self.top_drops) or "none"
        )
        table.add_row("elapsed", _duration(self.elapsed_s))
        table.add_row("time left", _duration(self.eta_s))
        return table


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressDisplay:
    """Shows a run's progress while it runs, in a background thread.

    On a terminal it is a live table refreshed every `refresh_s`; elsewhere (CI logs, a
    pipe) a status line is printed every `plain_interval_s` when something changed, and at
    least every minute.

    Args:
        pool_path: the run's pool store.
        target: finished tasks the run aims at.
        stream: where to show it (the terminal the user started the command from).
        live: force the live display on or off; default: on when `stream` is a terminal.
    """

    def __init__(
        self,
        pool_path: str | Path,
        target: int,
        stream: IO[str],
        *,
        live: Optional[bool] = None,
        refresh_s: float = 1.0,
        plain_interval_s: float = 5.0,
    ) -> None:
        self.pool_path = pool_path  # a file or a server URL: not a Path
        self.target = target
        self.console = Console(file=stream, highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.refresh_s = refresh_s
        self.plain_interval_s = plain_interval_s
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started = 0.0
        self._finished_at_start = 0
        self._live: Optional[Live] = None

    def read(self) -> Optional[RunProgress]:
        try:
            return RunProgress.read(
                self.pool_path,
                self.target,
                time.monotonic() - self._started,
                self._finished_at_start,
            )
        except Exception:  # noqa: BLE001 - a busy or half-created store only skips a refresh
            return None

    def __enter__(self) -> ProgressDisplay:
        self._started = time.monotonic()
        first = self.read()
        self._finished_at_start = first.finished if first else 0
        if self.live:
            # Started here, not in the thread: from now on `sys.stdout`/`sys.stderr` print
            # above the table instead of tearing it (Live stands in for both).
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._thread = threading.Thread(
            target=self._loop, name="selfinstruct-progress", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._live is not None:
            progress = self.read()
            if progress is not None:
                self._live.update(progress.table(), refresh=True)
            self._live.stop()
            self._live = None

    def _loop(self) -> None:
        if self._live is not None:
            while True:
                progress = self.read()
                if progress is not None:
                    self._live.update(progress.table(), refresh=True)
                if self._stop.wait(self.refresh_s):
                    return
        last_key: tuple[int, ...] = ()
        last_time = 0.0
        while not self._stop.wait(self.plain_interval_s):
            progress = self.read()
            if progress is None:
                continue
            key = (progress.finished, progress.accepted, progress.candidates, progress.rounds)
            if key != last_key or time.monotonic() - last_time >= 60:
                self.console.print(progress.status_line(), markup=False, soft_wrap=True)
                last_key, last_time = key, time.monotonic()
