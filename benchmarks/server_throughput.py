"""The pipeline against the ceiling of a continuous-batching server, at several capacities.

For each capacity C it starts `benchmarks.sim_server` with C slots and, in one run:

1. runs `selfinstruct generate --base-url ... --max-concurrency C` to a target, sampling the
   CPU time of the command's whole process tree (supervisor, pipeline, step processes; the
   server is not in it) and the server's request count every 0.2 s;
2. replays exactly the requests the pipeline sent with the bare load generator
   (`benchmarks.load_generator`, C connections, no client library) on a fresh server.

It prints, per C, the load generator's and the pipeline's requests/s, their ratio, finished
tasks/min, the server's utilization (busy slot-seconds / (C * time)) during the pipeline's
run, the most requests in flight, and the pipeline's CPU per request: over the whole run
(start-up included) and in steady state (the middle 80 % of its requests).

    python -m benchmarks.server_throughput [--capacities 16,64,256] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.load_generator import replay

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int, seen: dict[int, float]) -> float:
    """CPU seconds of `root` and its descendants, remembering processes that have ended."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in times:
            seen[pid] = max(seen.get(pid, 0.0), times[pid])
        stack.extend(children.get(pid, []))
    return sum(seen.values())


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def start_server(capacity: int) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sim_server", "--capacity", str(capacity)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        raise RuntimeError(f"the simulated server did not start: {line!r}")
    return server, f"http://127.0.0.1:{line.split()[1]}"


def run_pipeline(base: str, capacity: int, target: int, output: Path) -> dict[str, Any]:
    env = {**os.environ, "OPENAI_API_KEY": "sim"}
    command = [
        str(Path(sys.executable).parent / "selfinstruct"),
        "generate",
        "--base-url",
        f"{base}/v1",
        "--model",
        "sim",
        "--num-instructions",
        str(target),
        "--max-concurrency",
        str(capacity),
        "--output",
        str(output),
    ]
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, float, int]] = []  # (time, tree CPU, server requests)
    seen: dict[int, float] = {}

    def sample() -> None:
        while process.poll() is None:
            cpu = tree_cpu_s(process.pid, seen)
            try:
                requests = _get(f"{base}/stats")["requests"]
            except OSError:
                requests = samples[-1][2] if samples else 0
            samples.append((time.monotonic() - started, cpu, requests))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"selfinstruct exited {process.returncode}: {stderr.decode()[-500:]}")
    wall = time.monotonic() - started
    cpu_total = sum(seen.values())
    stats = _get(f"{base}/stats")
    summary = json.loads((output / "summary.json").read_text())
    total = stats["requests"]
    # Steady state: between the sample where 10 % of the requests had been served and the
    # one where 90 % had.
    low = next(s for s in samples if s[2] >= 0.1 * total)
    high = next((s for s in samples if s[2] >= 0.9 * total), samples[-1])
    steady_cpu = (high[1] - low[1]) / max(1, high[2] - low[2])
    return {
        "wall_s": round(wall, 2),
        "server": stats,
        "tasks_finished": summary["tasks_finished"],
        "tasks_per_min": round(summary["tasks_finished"] / (stats["window_s"] / 60), 1),
        "cpu_s": round(cpu_total, 2),
        "cpu_ms_per_request": round(1000 * cpu_total / max(1, total), 2),
        "steady_cpu_ms_per_request": round(1000 * steady_cpu, 2),
    }


def measure(capacity: int, target: int, workdir: Path) -> dict[str, Any]:
    server, base = start_server(capacity)
    try:
        pipeline = run_pipeline(base, capacity, target, workdir / f"run-c{capacity}")
        with urllib.request.urlopen(f"{base}/requests", timeout=60) as reply:
            bodies = [json.dumps(body).encode() for body in json.loads(reply.read())]
        _post(f"{base}/reset")
        bare = asyncio.run(replay(f"{base}/v1", bodies, capacity))
        bare_stats = _get(f"{base}/stats")
    finally:
        server.kill()
        server.wait()
    pipeline_rps = pipeline["server"]["requests_per_s"]
    return {
        "capacity": capacity,
        "target": target,
        "bare_requests_per_s": bare_stats["requests_per_s"],
        "bare_utilization": bare_stats["utilization"],
        "pipeline_requests_per_s": pipeline_rps,
        "ratio": round(pipeline_rps / bare_stats["requests_per_s"], 3),
        "pipeline_utilization": pipeline["server"]["utilization"],
        "pipeline_max_in_flight": pipeline["server"]["max_in_flight"],
        "bare_elapsed_s": bare["elapsed_s"],
        **{key: pipeline[key] for key in pipeline if key != "server"},
        "requests": pipeline["server"]["requests"],
        "by_kind": pipeline["server"]["by_kind"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_throughput")
    parser.add_argument("--capacities", default="16,64,256")
    parser.add_argument(
        "--tasks-per-slot", type=int, default=8, help="target = this * C (at least 200)"
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="selfinstruct-throughput-"))
    results = []
    try:
        for capacity in (int(part) for part in args.capacities.split(",")):
            result = measure(capacity, max(200, args.tasks_per_slot * capacity), workdir)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        if args.keep:
            print(f"run directories kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    header = (
        "| C | bare req/s | pipeline req/s | ratio | utilization | tasks/min | in flight"
        " | CPU ms/req (all) | CPU ms/req (steady) |"
    )
    print(header)
    print("|" + " --- |" * 9)
    for r in results:
        print(
            f"| {r['capacity']} | {r['bare_requests_per_s']:.1f} | {r['pipeline_requests_per_s']:.1f}"
            f" | {r['ratio']:.2f} | {100 * r['pipeline_utilization']:.0f} % | {r['tasks_per_min']:.0f}"
            f" | {r['pipeline_max_in_flight']} | {r['cpu_ms_per_request']:.1f}"
            f" | {r['steady_cpu_ms_per_request']:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
