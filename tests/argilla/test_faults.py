"""The real local Argilla server killed in the middle of a push, then restarted: the push
ends with one line, the local data is untouched, and pushing again lands every record once
(the record count matches the run's instances exactly)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distilabel_selfinstruct.argilla.local_server.config import Settings
from distilabel_selfinstruct.argilla.local_server.state import read_pid_file

from .conftest import LAUNCHER, REPO

pytestmark = [pytest.mark.argilla, pytest.mark.timeout(900)]

COMMAND = [sys.executable, "-m", "distilabel_selfinstruct.cli"]


def write_tasks(path: Path, count: int) -> int:
    """An official JSONL of `count` tasks with two instances each; returns the instances."""
    with path.open("w") as handle:
        for i in range(count):
            task = {
                "id": f"machine_fault{i:05d}",
                "name": f"machine_fault{i:05d}",
                "instruction": f"Describe step {i} of a recipe for bread number {i}.",
                "instances": [
                    {"input": "", "output": f"Knead the dough for {i} minutes."},
                    {"input": "rye", "output": f"Let the rye dough rest {i} hours."},
                ],
                "is_classification": False,
            }
            handle.write(json.dumps(task) + "\n")
    return 2 * count


def server_pid_file() -> Path:
    return Settings.from_environment(os.environ).state_dir / "run" / "server.pid"


def record_count(client, dataset_name: str, workspace: str) -> int:
    dataset = client.datasets(name=dataset_name, workspace=workspace)
    return 0 if dataset is None else sum(1 for _ in dataset.records)


def push(jsonl: Path, dataset_name: str, server, *, batch_size: int = 10) -> subprocess.Popen:
    return subprocess.Popen(
        [*COMMAND, "push", "--input", str(jsonl), "--dataset", dataset_name]
        + ["--workspace", server.workspace, "--api-url", server.api_url]
        + ["--batch-size", str(batch_size)],
        env={**os.environ, "ARGILLA_API_KEY": server.api_key},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_server_killed_mid_push_then_restarted_gets_every_record_once(
    argilla_server, client, dataset_name, tmp_path: Path
) -> None:
    pid_file = server_pid_file()
    identity = read_pid_file(pid_file)
    if identity is None:
        pytest.skip("the Argilla server was not started by this project's launcher")
    jsonl = tmp_path / "self_instruct.jsonl"
    expected = write_tasks(jsonl, 400)
    before = jsonl.read_bytes()

    pushing = push(jsonl, dataset_name, argilla_server)
    deadline = time.monotonic() + 300
    while record_count(client, dataset_name, argilla_server.workspace) == 0:
        assert pushing.poll() is None, pushing.communicate()
        assert time.monotonic() < deadline, "no record arrived"
        time.sleep(0.2)
    os.killpg(identity.pid, signal.SIGKILL)  # the server, mid-push (OpenSearch keeps the data)
    _, stderr = pushing.communicate(timeout=300)
    lines = stderr.strip().splitlines()
    assert pushing.returncode == 1, stderr
    assert len(lines) == 1 and argilla_server.api_url in lines[0], lines
    assert jsonl.read_bytes() == before

    up = subprocess.run(
        [sys.executable, "-m", LAUNCHER, "up"], cwd=REPO, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    again = push(jsonl, dataset_name, argilla_server, batch_size=100)
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert record_count(client, dataset_name, argilla_server.workspace) == expected
