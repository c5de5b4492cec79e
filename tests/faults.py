"""Fault injection against the `selfinstruct` command: the tests' own OpenAI-compatible
server, runs killed at chosen moments, and the checks every recovered run must pass.
Shared by tests/test_faults.py and benchmarks/fault_campaign.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import PoolDamagedError, open_pool_store
from distilabel_selfinstruct.verify import verify_run

COMMAND = [sys.executable, "-m", "distilabel_selfinstruct.cli"]
ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def port_printing_server(module: str, *args: str) -> Iterator[str]:
    """Runs `python -m module args` (a server that prints `PORT <n>` once it listens) in
    its own process; yields `http://127.0.0.1:<n>` and kills it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.kill()
        process.wait()


@contextmanager
def fake_server(mode: str = "ok", delay_s: float = 0.0, fail_after: int = 10) -> Iterator[str]:
    """Runs tests/fake_openai.py in its own process; yields its base URL."""
    options = ["--mode", mode, "--delay-s", str(delay_s), "--fail-after", str(fail_after)]
    with port_printing_server("tests.fake_openai", *options) as base:
        yield f"{base}/v1"


def generate_args(base_url: str, output: Path, target: int, batch_size: int = 2) -> list[str]:
    return [
        "generate",
        "--base-url",
        base_url,
        "--model",
        "fake",
        "--num-instructions",
        str(target),
        "--output",
        str(output),
        "--batch-size",
        str(batch_size),
        # The kill moments were calibrated on one request at a time; streamed requests
        # (the --base-url default) finish these small runs before the late moments.
        # tests/test_servers.py and tests/test_concurrency.py cover streaming.
        "--max-concurrency",
        "1",
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "sk-fault-suite", "PYTHONPATH": str(ROOT)}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    """The command in its own process group, as a terminal starts a job."""
    return subprocess.Popen(
        [*COMMAND, *args],
        cwd=cwd,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (the pipeline's child runs in a session of its own,
    so a process group does not reach it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL to the command and everything it started, at once (a power cut for the
    process tree: no handler runs anywhere)."""
    for pid in descendants(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.communicate()


def wait_gone(pids: list[int], timeout_s: float = 20) -> list[int]:
    """The pids of `pids` still alive after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.1)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def finished_count(output: Path) -> Optional[int]:
    pool = pool_path_for(output)
    try:
        with open_pool_store(pool, create=False) as store:
            return store.completed_count()
    except (PoolDamagedError, OSError):
        return None


@dataclass
class Outcome:
    """What a run directory holds after the final rerun."""

    returncode: int
    finished: Optional[int]
    problems: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def recovered(self) -> bool:
        return self.returncode == 0 and not self.problems


def check_run(output: Path, target: int, result: subprocess.CompletedProcess) -> Outcome:
    """The final state: exit 0, exactly `target` finished, `verify` clean, the exports
    holding exactly the pool's tasks once each."""
    problems = verify_run(output)
    finished = finished_count(output)
    if finished != target:
        problems.append(f"{finished} finished, target {target}")
    exported = output / "self_instruct.jsonl"
    if exported.exists():
        ids = [json.loads(line)["id"] for line in exported.read_text().splitlines() if line]
        if len(ids) != len(set(ids)) or len(ids) != target:
            problems.append(f"export: {len(ids)} lines, {len(set(ids))} distinct")
    tail = "\n".join(result.stderr.strip().splitlines()[-3:])
    return Outcome(result.returncode, finished, problems, tail)
