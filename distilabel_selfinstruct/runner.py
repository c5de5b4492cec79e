"""Runs a saved pipeline YAML in a child process that the command line supervises.

The CLI never runs the pipeline in its own process. It saves the pipeline as YAML in the run
directory and starts `python -m distilabel_selfinstruct.runner` on it, with the child's
output (distilabel's log, llama.cpp's messages, any traceback) going to the run's log file.
That keeps the terminal for the progress display and a short ending, makes every run
exercise the same YAML a teammate would rerun, and lets Ctrl-C stop the whole pipeline:

- the child has its own session, so a terminal's Ctrl-C reaches only the supervisor, which
  passes one SIGINT on (distilabel then stops after the batches in flight) and kills the
  child's process group if it has not ended within `STOP_GRACE_S`;
- a second Ctrl-C, or SIGTERM to the supervisor, kills the child's process group at once
  (the pool store's writes are transactions keyed by content, so a rerun resumes without
  loss);
- a condition the supervisor is given (`stop_when`: e.g. the pool says the LLM server
  failed) kills the group too, so a run whose server is gone ends in seconds;
- how it ended comes back in a small status file: finished, or failed with a one-line
  reason.

distilabel's own cache (`<run>/cache`) is not state of the run: every invocation runs with
`use_cache=False` and resumes from the pool store. distilabel still reads back the
`pipeline.yaml` it rewrote there after every batch (not atomically), so a run killed during
that write could never start again. Each invocation therefore starts with an empty cache;
the previous one is set aside and deleted first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Literal, Optional, Sequence

from distilabel_selfinstruct.files import HELD_LOCK_ENV, atomic_write_text
from distilabel_selfinstruct.run_directory import CACHE_DIRNAME, fresh_cache  # noqa: F401 - old home

LOG_FILENAME = "selfinstruct.log"
PIPELINE_FILENAME = "pipeline.yaml"
# Seconds distilabel gets, after the first Ctrl-C, to end its batches in flight.
STOP_GRACE_S = 10.0
# Exceptions whose message is already written for the user (no type name needed).
_USER_FACING = (
    "ModelNotFoundError",
    "SeedFileError",
    "RunMismatchError",
    "PoolDamagedError",
    "PoolUnavailableError",
    "StepActorLostError",
)


def parse_parameters(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`step.key=value` or `step.llm.key=value` items as `Pipeline.run(parameters=...)`.

    Raises:
        ValueError: an item is not of that form.
    """
    parameters: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ValueError(f"--param {item!r}: expected STEP.NAME=VALUE")
        node = parameters
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--param {item!r}: '{part}' is given twice")
        node[parts[-1]] = value
    return parameters


def describe_failure(error: BaseException) -> str:
    """One line for an exception, naming its innermost cause (distilabel wraps a step's
    load error in `RuntimeError("Failed to load all the steps ...")`)."""
    innermost = error
    while innermost.__cause__ is not None:
        innermost = innermost.__cause__
    text = str(innermost).strip().splitlines()
    message = text[0] if text else ""
    if type(innermost).__name__ not in _USER_FACING:
        message = f"{type(innermost).__name__}: {message}" if message else type(innermost).__name__
    if innermost is not error and str(error).startswith("Failed to load"):
        message = f"a step failed to load: {message}"
    return message


# -- the child ---------------------------------------------------------------------------


def _die_with_parent(parent: int, interval_s: float = 0.5) -> None:
    """Ends the pipeline once the supervisor `parent` is gone: in its own session the child
    would otherwise outlive a killed `selfinstruct`. The pid comes from the supervisor, so a
    supervisor that died while this process was still starting is noticed too."""

    def end() -> None:
        # The whole group (the pipeline's workers) only when this process leads it; run by
        # hand inside someone's shell job, it ends only itself.
        if os.getpgid(0) == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    if os.getppid() != parent:
        end()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        end()

    threading.Thread(target=watch, name="selfinstruct-parent-watch", daemon=True).start()


# distilabel logs two INFO lines per batch and step, httpx one per request: with many
# requests in flight, carrying them to the log through the log queue and rich cost more CPU
# than the requests themselves. The run's log keeps everything else.
PER_BATCH_MESSAGES = ("📦 Processing batch", "📨 Step")


class _PerBatchLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO and str(record.msg).startswith(PER_BATCH_MESSAGES)
        )


def quiet_per_batch_logs(pipeline: Any) -> None:
    """Leaves distilabel's per-batch lines and httpx's per-request lines out of the log
    (the step processes inherit this: they are forked from this one)."""
    quiet = _PerBatchLogFilter()
    for name in pipeline.dag:
        logging.getLogger(f"distilabel.step.{name}").addFilter(quiet)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _child(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distilabel_selfinstruct.runner")
    parser.add_argument("--config", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--parent-pid", type=int, help="end when this process is gone")
    parser.add_argument("--ray", action="store_true", help="run it on Ray (RAY_ADDRESS)")
    args = parser.parse_args(argv)
    status = Path(args.status)
    if args.parent_pid:
        _die_with_parent(args.parent_pid)
    try:
        from distilabel.pipeline import Pipeline

        pipeline = Pipeline.from_yaml(args.config)
        quiet_per_batch_logs(pipeline)
        if args.ray:
            from distilabel_selfinstruct.loop_pipeline import to_ray

            pipeline = to_ray(pipeline)
        pipeline.run(parameters=parse_parameters(args.param), use_cache=False)
    except BaseException as error:  # noqa: BLE001 - reported, whatever it is
        traceback.print_exc()
        atomic_write_text(status, json.dumps({"ok": False, "error": describe_failure(error)}))
        return 1
    atomic_write_text(status, json.dumps({"ok": True}))
    return 0


# -- the supervisor ----------------------------------------------------------------------


@dataclass
class RunOutcome:
    """How one pipeline process ended."""

    status: Literal["finished", "failed", "interrupted"]
    error: Optional[str] = None
    returncode: Optional[int] = None
    # The signal that interrupted it (SIGINT or SIGTERM).
    signum: Optional[int] = None


class _Signals:
    """Passes the first Ctrl-C on to the child's group as SIGINT; kills the group on a
    second one or on SIGTERM. Installed only in the main thread (where signals arrive)."""

    def __init__(self, process: subprocess.Popen, notice: IO[str]) -> None:
        self.process = process
        self.notice = notice
        self.interrupted = False
        self.signum: Optional[int] = None
        # When the child's group is killed if it is still running (after a first Ctrl-C).
        self.kill_at: Optional[float] = None
        self._previous: dict[int, Any] = {}

    def _send(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.signum is None or signum == signal.SIGTERM:
            self.signum = signum
        if signum == signal.SIGINT and not self.interrupted:
            self.interrupted = True
            print(
                "\nStopping after the batches in flight (Ctrl-C again to stop at once)...",
                file=self.notice,
                flush=True,
            )
            self.kill_at = time.monotonic() + STOP_GRACE_S
            self._send(signal.SIGINT)
            return
        self.interrupted = True
        self.kill()

    def kill(self) -> None:
        """Ends the child's whole group now."""
        self._send(signal.SIGKILL)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def run_pipeline_process(
    config: Path,
    run_dir: Path,
    *,
    parameters: Sequence[str] = (),
    verbose: bool = False,
    notice: Optional[IO[str]] = None,
    stop_when: Optional[Callable[[], Optional[str]]] = None,
    poll_s: float = 0.5,
    ray: bool = False,
    lock_fd: Optional[int] = None,
) -> RunOutcome:
    """Runs `config` once in a child process until it ends, and says how it ended.

    Args:
        config: the pipeline YAML.
        run_dir: the run directory: the log (`selfinstruct.log`, appended to) goes there
            (the pipeline's `run()` empties distilabel's cache there, `RunDirectory`).
        parameters: `STEP.NAME=VALUE` runtime parameters for the run.
        verbose: also copy the child's output to `notice`.
        notice: where the supervisor's own messages (and the verbose copy) go; default:
            `sys.stderr` as it is at the call (a live display may be standing in for it).
        stop_when: polled every `poll_s` seconds; a message it returns ends the run at once
            as failed with that message.
        ray: run it as a Ray pipeline (`compat.distilabel_ray.to_ray`) on the cluster
            `RAY_ADDRESS` names; the child is then the Ray driver.
        lock_fd: the run directory's lock this process holds (`files.directory_lock`):
            the child inherits it and works under it.
    """
    notice = notice if notice is not None else sys.stderr
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = run_dir / CACHE_DIRNAME
    status_path = run_dir / ".runner-status.json"
    status_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "distilabel_selfinstruct.runner",
        "--config",
        str(config),
        "--status",
        str(status_path),
        "--parent-pid",
        str(os.getpid()),
    ]
    for item in parameters:
        command += ["--param", item]
    if ray:
        command.append("--ray")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # One directory holds everything a run needs (distilabel's cache included).
        "DISTILABEL_CACHE_DIR": str(cache),
        # The log is read as text: wide lines, no colour codes.
        "COLUMNS": "160",
        "NO_COLOR": "1",
    }
    if lock_fd is not None:
        env[HELD_LOCK_ENV] = str(lock_fd)
    with open(run_dir / LOG_FILENAME, "a", encoding="utf-8") as log:
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            text=True,
            errors="replace",
            pass_fds=() if lock_fd is None else (lock_fd,),
        )
        copier = threading.Thread(
            target=_copy_output,
            args=(process.stdout, log, notice if verbose else None),
            daemon=True,
        )
        copier.start()
        stopped_because: Optional[str] = None
        with _Signals(process, notice) as signals:
            while True:
                try:
                    returncode = process.wait(timeout=poll_s)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if signals.kill_at is not None and time.monotonic() >= signals.kill_at:
                    signals.kill()
                if stopped_because is None and stop_when is not None:
                    stopped_because = _safe_poll(stop_when)
                    if stopped_because is not None:
                        signals.kill()
            # Workers whose main process died (OOM killer, a stray kill) would live on and
            # hold the output pipe open: the group goes with its leader.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        copier.join(timeout=30)
    try:
        status = json.loads(status_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = None
    status_path.unlink(missing_ok=True)
    if stopped_because is not None and not signals.interrupted:
        return RunOutcome("failed", stopped_because, returncode)
    if signals.interrupted:
        return RunOutcome("interrupted", returncode=returncode, signum=signals.signum)
    if status and status.get("ok") and returncode == 0:
        return RunOutcome("finished", returncode=returncode)
    if status and status.get("error"):
        return RunOutcome("failed", status["error"], returncode)
    if returncode < 0:
        reason = f"the pipeline process was killed by signal {signal.Signals(-returncode).name}"
    else:
        reason = f"the pipeline process exited with code {returncode}"
    return RunOutcome("failed", reason, returncode)


def _safe_poll(stop_when: Callable[[], Optional[str]]) -> Optional[str]:
    # A condition that cannot be read right now (the pool busy or being created) is no
    # reason to stop.
    try:
        return stop_when()
    except Exception:  # noqa: BLE001
        return None


def _copy_output(source: Optional[IO[str]], log: IO[str], echo: Optional[IO[str]]) -> None:
    """Drains the child's output into the log (and `echo`) until it closes. A write that
    fails (a full disk, a closed terminal) loses that copy, never the draining: a pipe
    nobody reads would block the child's logging and hang the run."""
    if source is None:
        return
    targets = [log] if echo is None else [log, echo]
    for line in source:
        for target in list(targets):
            try:
                target.write(line)
                target.flush()
            except (OSError, ValueError):
                targets.remove(target)


if __name__ == "__main__":
    sys.exit(_child())
