"""A compat test's child pipeline: a script run in its own session, as "ours"
(`SelfInstructPipeline`), "plain" (distilabel's `Pipeline`) or "disabled" (ours with the
fix turned off), so a run that hangs without the fix can be killed with its workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from distilabel_selfinstruct.compat import DISABLE_ENV


def start_child(
    tmp_path: Path, script: Path, pipeline: str, fix_name: str, marker_name: str
) -> tuple[subprocess.Popen, Path, Path]:
    """Starts `script` with `pipeline`; its output goes to the log it returns, with the
    marker file the script creates (`argv[2]`) once it got where the test watches."""
    env = {**os.environ, "DISTILABEL_CACHE_DIR": str(tmp_path / "cache")}
    env.pop(DISABLE_ENV, None)
    if pipeline == "disabled":
        env[DISABLE_ENV] = fix_name
    log, marker = tmp_path / "child.log", tmp_path / marker_name
    with log.open("w") as output:
        # Own session: distilabel starts worker processes, killed with the group.
        process = subprocess.Popen(
            [sys.executable, str(script), pipeline, str(marker)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log, marker


def stop_child(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
