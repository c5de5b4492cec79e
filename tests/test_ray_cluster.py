"""The bootstrap on a real Ray cluster with its pool in PostgreSQL, and a worker node lost
mid-run.

PostgreSQL (Debian's binaries, its own data directory, 127.0.0.1) and a Ray cluster of a
head and a worker node (separate `ray start` processes) are started here and stopped at the
end. The driver (tests/ray_bootstrap.py) runs the scripted bootstrap from its saved YAML,
with the LLM stages and the instance filter on the worker node. The worker node is killed
(SIGKILL to all its processes) once a few tasks are finished: the run must end with one
line naming the lost step, the pool must keep every finished task, and a rerun on a
replacement node must reach the target without loss or duplicates.

About 3 minutes on 2 cores: the cluster and PostgreSQL start in ~15 s, each run's actors in
~40 s.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from distilabel_selfinstruct.pool import open_pool_store
from tests.conftest import REPO_ROOT
from tests.postgres_server import PASSWORD, PostgresServer
from tests.ray_cluster import RayCluster, ray_command
from tests.scripted import check_invariants

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

TARGET = 12
DELAY_S = "1.0"  # per scripted reply: slow enough to kill the node mid-run
KILL_AFTER = 2  # finished tasks
RUN_TIMEOUT_S = 420


def _driver(output: Path, url: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115 - closed when the driver ends
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.ray_bootstrap", str(output), url, str(TARGET), DELAY_S],
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    finally:
        handle.close()


@contextlib.contextmanager
def _killed_at_exit(drivers: list[subprocess.Popen]) -> Iterator[None]:
    # A failed assertion must not leave a driver behind.
    try:
        yield
    finally:
        for driver in drivers:
            if driver.poll() is None:
                driver.kill()
                driver.wait()


def _finished(url: str) -> int:
    with open_pool_store(url, create=False, password=PASSWORD) as store:
        return store.completed_count()


def test_a_worker_node_lost_mid_run_loses_nothing_and_a_rerun_completes(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ray_command() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Ray cluster test: scripts/test installs the ray extra")
        pytest.skip("Ray is not installed (pip install 'distilabel-selfinstruct[ray]')")
    url = postgres_server.new_database()
    output = tmp_path / "run"
    output.mkdir()
    # Credentials come from the environment on every node, as on a real cluster.
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    env.pop("RAY_ADDRESS", None)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    drivers: list[subprocess.Popen] = []
    with RayCluster(env, workers=1) as cluster, _killed_at_exit(drivers):
        driver_env = {**env, "RAY_ADDRESS": cluster.address}
        first_log = tmp_path / "first.log"
        first = _driver(output, url, driver_env, first_log)
        drivers.append(first)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            assert first.poll() is None, first_log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, "no task finished before the deadline"
            try:
                if _finished(url) >= KILL_AFTER:
                    break
            except Exception:  # noqa: BLE001 - the pool is created by the run
                pass
            time.sleep(0.5)
        cluster.kill_worker()
        killed_at = time.monotonic()
        code = first.wait(timeout=180)
        text = first_log.read_text(errors="replace")
        assert code != 0, text[-4000:]
        assert "driver on the head: True" in text
        assert "\nerror: step '" in text and "was lost with its Ray actor" in text, text[-4000:]
        print(f"the driver ended {time.monotonic() - killed_at:.1f} s after the kill")
        with open_pool_store(url) as store:
            before = store.completed_ids()
            state = store.state()
        assert KILL_AFTER <= len(before) < TARGET, state
        assert state.in_flight >= 0

        cluster.add_worker()  # a replacement node
        second_log = tmp_path / "second.log"
        second = _driver(output, url, driver_env, second_log)
        drivers.append(second)
        code = second.wait(timeout=RUN_TIMEOUT_S)
        assert code == 0, second_log.read_text(errors="replace")[-4000:]

    finished = check_invariants(output, TARGET, pool=url)
    assert before <= {task["task_id"] for task in finished}  # nothing finished was lost
    # The YAML a teammate reruns names the pool without its credentials.
    saved = (output / "pipeline.yaml").read_text()
    assert url in saved and PASSWORD not in saved
