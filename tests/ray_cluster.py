"""A local Ray cluster for the tests: a head and worker nodes as separate `ray start`
processes on this machine, each in a session of its own, so one node can be killed
(`kill_worker`: SIGKILL to the node's whole process group: its raylet, its agents and the
actors it runs) while the rest of the cluster lives on.

The head takes the machine's own address and every worker a loopback address of its own
(127.0.0.2, ...), so the nodes are told apart by address as on a real cluster. Nodes on
one machine share Ray's session directory, whose `node_ip_address.json` the last node to
start rewrites: a driver must name its node's address (`ray.init(_node_ip_address=
cluster.head_ip)`) or it may attach to a worker node, and die with it. Ports are free ones
picked here (two nodes on one machine must not share any). Everything it starts it stops
on exit, and its temporary directory goes with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

START_TIMEOUT_S = 120
HEAD_RESOURCE = "head_node"
WORKER_RESOURCE = "worker_node"


def ray_command() -> Optional[Path]:
    """The `ray` command of this interpreter's environment, or `None` (Ray not installed)."""
    path = Path(sys.executable).parent / "ray"
    return path if path.is_file() else None


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _kill_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


class RayCluster:
    """A head and `workers` worker nodes (a context manager).

    Args:
        env: the nodes' environment (what the actors see: e.g. `PGPASSWORD`).
        workers: worker nodes to start with.
        head_cpus, worker_cpus: the CPUs each node offers Ray. Logical ones: an actor that
            asks for a custom resource holds one CPU while it runs (distilabel's
            `StepResources.cpus` cannot be 0), so a node needs one per step placed on it.
    """

    def __init__(
        self, env: dict[str, str], workers: int = 1, head_cpus: int = 8, worker_cpus: int = 4
    ) -> None:
        # No idle workers started ahead of the first driver: the actors start their own.
        self.env = {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_prestart_worker_first_driver": "0"}
        self.head_cpus, self.worker_cpus = head_cpus, worker_cpus
        self.root = Path(tempfile.mkdtemp(prefix="selfinstruct-ray-"))
        self.port = _free_ports(1)[0]
        self.address = ""
        self.head_ip = ""
        self._head: Optional[subprocess.Popen] = None
        self.workers: list[subprocess.Popen] = []
        self._initial_workers = workers
        self._started = 0

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        ray = ray_command()
        assert ray is not None, "Ray is not installed"
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - the node's lifetime
        process = subprocess.Popen(
            [str(ray), "start", "--block", "--disable-usage-stats", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        return process

    def __enter__(self) -> RayCluster:
        dashboard, client, agent, metrics = _free_ports(4)
        self._head = self._start(
            "head",
            [
                "--head",
                f"--port={self.port}",
                f"--num-cpus={self.head_cpus}",
                f"--resources={json.dumps({HEAD_RESOURCE: 100})}",
                "--include-dashboard=false",
                f"--dashboard-port={dashboard}",
                f"--ray-client-server-port={client}",
                f"--dashboard-agent-listen-port={agent}",
                f"--metrics-export-port={metrics}",
                f"--temp-dir={self.root / 'ray'}",
            ],
        )
        try:
            self.head_ip = self._head_ip()
            self.address = f"{self.head_ip}:{self.port}"
            for _ in range(self._initial_workers):
                self.add_worker()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _head_ip(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        log = self.root / "head.log"
        while time.monotonic() < deadline:
            assert self._head is not None
            text = log.read_text(errors="replace") if log.exists() else ""
            text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Ray colours its output
            match = re.search(r"Local node IP: ([0-9.]+)", text)
            if match and "Ray runtime started" in text:
                return match.group(1)
            if self._head.poll() is not None:
                raise RuntimeError(f"the Ray head did not start:\n{text[-3000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"the Ray head did not start in {START_TIMEOUT_S} s")

    def add_worker(self) -> subprocess.Popen:
        """Starts one more worker node (a replacement after a kill) and waits until it
        has joined."""
        self._started += 1
        node_manager, object_manager, agent, metrics = _free_ports(4)
        worker = self._start(
            f"worker{self._started}",
            [
                f"--address={self.address}",
                f"--node-ip-address=127.0.0.{1 + self._started}",
                f"--num-cpus={self.worker_cpus}",
                f"--resources={json.dumps({WORKER_RESOURCE: 100})}",
                f"--node-manager-port={node_manager}",
                f"--object-manager-port={object_manager}",
                f"--dashboard-agent-listen-port={agent}",
                f"--metrics-export-port={metrics}",
            ],
        )
        self.workers.append(worker)
        self._wait_for_node(f"127.0.0.{1 + self._started}", worker, f"worker{self._started}")
        return worker

    def _wait_for_node(self, ip: str, node: subprocess.Popen, name: str) -> None:
        probe = (
            f"import ray; ray.init(address='{self.address}', logging_level='ERROR',"
            f" _node_ip_address='{self.head_ip}');"
            f"print(any(n['Alive'] and n['NodeManagerAddress'] == '{ip}' for n in ray.nodes()))"
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            result = subprocess.run(
                [sys.executable, "-c", probe],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
            )
            if result.stdout.strip().endswith("True"):
                return
            if node.poll() is not None or time.monotonic() > deadline:
                log = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(
                    f"the Ray node {ip} did not join:\n{log}\n{result.stderr[-2000:]}"
                )
            time.sleep(1)

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL to a worker node's whole process group, as when a machine is lost."""
        worker = self.workers[index]
        _kill_group(worker, signal.SIGKILL)
        worker.wait(timeout=30)

    def __exit__(self, *_: object) -> None:
        nodes = [*self.workers, *([self._head] if self._head else [])]
        for node in nodes:
            _kill_group(node, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(node, signal.SIGKILL)  # whatever of its group is still there
        shutil.rmtree(self.root, ignore_errors=True)
