"""How the launcher talks to its user: progress on stderr, and one-line failures."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Optional, TextIO

PREFIX = "argilla-local"
LOG_TAIL_LINES = 40


class LauncherError(Exception):
    """A failure whose message is the one-line reason; `log_path` is shown above it."""

    def __init__(self, reason: str, log_path: Optional[Path] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_path = log_path


class Progress:
    """Prints `argilla-local: [ 12s] message` lines to stderr, timed from its creation."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()

    @property
    def elapsed_seconds(self) -> float:
        return self._clock() - self._started

    def say(self, message: str) -> None:
        print(f"{PREFIX}: [{int(self.elapsed_seconds):3d}s] {message}", file=sys.stderr, flush=True)


def tail_lines(path: Path, line_count: int = LOG_TAIL_LINES) -> list[str]:
    """The last `line_count` lines of a log, decoded leniently (logs mix encodings)."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-line_count:]


def report_failure(error: LauncherError, stream: Optional[TextIO] = None) -> None:
    """The log's tail (when there is one), then the single `argilla-local: error:` line last,
    so that a caller keeping only the last line of stderr still gets the reason."""
    stream = stream if stream is not None else sys.stderr
    if error.log_path is not None:
        lines = tail_lines(error.log_path)
        if lines:
            print(f"----- last {LOG_TAIL_LINES} lines of {error.log_path} -----", file=stream)
            for line in lines:
                print(line, file=stream)
            print("-----", file=stream)
    reason = " ".join(error.reason.split())
    print(f"{PREFIX}: error: {reason}", file=stream, flush=True)
