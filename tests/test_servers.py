"""The pipeline against real OpenAI-compatible servers on 127.0.0.1, started (and stopped)
by the tests: the simulated continuous-batching server of the benchmarks, with many
requests streamed, and llama.cpp's own server on the embedded model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from distilabel_selfinstruct.pool import open_pool_store
from tests.faults import port_printing_server
from tests.scripted import check_invariants

ROOT = Path(__file__).resolve().parent.parent
SELFINSTRUCT = str(Path(sys.executable).parent / "selfinstruct")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def sim_server() -> Iterator[str]:
    with port_printing_server("benchmarks.sim_server", "--capacity", "16") as base:
        yield base


def generate(
    base_url: str, output: Path, *extra: str, timeout_s: float
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SELFINSTRUCT, "generate", "--base-url", f"{base_url}/v1", "--output", str(output), *extra],
        env={**os.environ, "OPENAI_API_KEY": "test"},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.mark.timeout(240)
def test_a_streamed_run_keeps_the_server_full_and_meets_its_target_exactly(
    sim_server: str, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    done = generate(
        sim_server, output, "--model", "sim", "--num-instructions", "120",
        "--max-concurrency", "16", timeout_s=200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stats = _get(f"{sim_server}/stats")
    assert stats["max_in_flight"] == 16  # the bound, reached, never passed
    assert stats["utilization"] > 0.5
    finished = check_invariants(output, 120)
    assert len(finished) == 120
    # Each stage's requests went to the server: instruction lists, Yes/No and instances.
    assert {"instructions", "classification"} <= set(stats["by_kind"])
    verified = subprocess.run(
        [SELFINSTRUCT, "verify", "--output", str(output)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with open_pool_store(output / "pool.sqlite", create=False) as store:
        counters = store.counters()
    assert counters["rounds"] >= 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def llama_cpp_server(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    from distilabel_selfinstruct.llms import default_model_path, usable_cpus

    port = _free_port()
    log = (tmp_path / "llama-cpp-server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
            "--model_alias", "gemma-3-270m",
            # llama-cpp-python's default is half of os.cpu_count(): 1 thread on 2 cores.
            "--n_threads", str(usable_cpus()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/v1/models")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"llama.cpp's server did not start: {(tmp_path / 'llama-cpp-server.log').read_text()[-2000:]}"
                    )
                time.sleep(0.5)
        yield base
    finally:
        _stop(server)
        log.close()


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_a_run_against_llama_cpp_s_own_server_on_the_default_model(
    llama_cpp_server: str, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    try:
        done = generate(
            llama_cpp_server, output, "--model", "gemma-3-270m", "--prompt-style", "completion",
            # One task: every stage's requests through the real server (three took 449 s
            # of CI's 2 cores; the count is what tests/test_e2e.py checks).
            "--num-instructions", "1", "--max-concurrency", "4", timeout_s=840,
        )  # fmt: skip
    except subprocess.TimeoutExpired as timeout:
        # What the run was doing: its last status line, its log and the server's.
        printed = (timeout.stdout or b"").decode(errors="replace").splitlines()[-1:]
        logs = [output / "selfinstruct.log", tmp_path / "llama-cpp-server.log"]
        tails = [path.read_text(errors="replace")[-2500:] for path in logs if path.exists()]
        pytest.fail("\n".join(["the run did not end in 840 s", *printed, *tails]))
    assert done.returncode == 0, done.stderr[-3000:]
    check_invariants(output, 1)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["tasks_finished"] == 1
    assert {"generate_instructions", "identify_classification", "generate_instances"} <= set(
        stage for stage, use in summary["usage"].items() if use["llm_calls"]
    )


@pytest.mark.timeout(240)
def test_a_token_budget_stops_the_run_with_its_work_kept_and_says_how_to_go_on(
    sim_server: str, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    args = ["--model", "sim", "--num-instructions", "80", "--max-concurrency", "16"]
    prices = ["--price-prompt", "0.5", "--price-completion", "1.5"]
    done = generate(sim_server, output, *args, *prices, "--max-tokens", "80000", timeout_s=200)
    assert done.returncode == 0, done.stderr
    summary = json.loads((output / "summary.json").read_text())
    assert "token budget reached" in summary["stop_reason"]
    assert summary["tasks_finished"] < 80
    # The work is kept: how far the stages got when the budget ran out depends on how the
    # scheduler interleaved them (in CI all of it was once still short of instances), but
    # the admitted instructions are in the pool, and the continued run below finishes them.
    assert summary["instructions_accepted"] > 0
    stopped_at = int(summary["stop_reason"].split("stopped at ")[1].split(" ")[0])
    assert stopped_at <= summary["tasks_finished"]
    # Generation stopped at the budget; only the requests in flight then went past it
    # (at most 16 here, ~2,000 tokens each).
    assert 80000 <= summary["prompt_tokens"] + summary["completion_tokens"] < 80000 + 16 * 3000
    assert summary["cost"] > 0
    assert "--max-tokens" in done.stderr  # the command to continue, with the budget named
    verified = subprocess.run(
        [SELFINSTRUCT, "verify", "--output", str(output)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # A larger budget continues the same run from where it stopped.
    more = generate(sim_server, output, *args, *prices, "--max-tokens", "1000000", timeout_s=200)
    assert more.returncode == 0, more.stderr
    again = json.loads((output / "summary.json").read_text())
    assert again["tasks_finished"] == 80 and again["stop_reason"] is None
    check_invariants(output, 80)
