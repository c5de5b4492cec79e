"""The fault-injection suite: `selfinstruct generate` against the tests' own OpenAI-compatible
server (tests/fake_openai.py), killed at many moments, stopped by signals, given a damaged
cache or pool, a full disk and failing servers. After each, the run directory must be
resumable and, once the same command has run to the end, pass `selfinstruct verify` with
exactly the target (tests/faults.py has the harness; benchmarks/fault_campaign.py runs the
random campaign of docs/reliability.md)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from distilabel_selfinstruct.pipeline import pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.verify import verify_run
from tests.faults import (
    COMMAND,
    check_run,
    descendants,
    fake_server,
    finished_count,
    generate_args,
    kill_tree,
    run,
    start,
    wait_gone,
)

pytestmark = [pytest.mark.usefixtures("isolated_env"), pytest.mark.timeout(900)]

TARGET = 5


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with fake_server("ok", delay_s=0.02) as base_url:
        yield base_url


def mid_run_invariants(output: Path) -> None:
    """What holds at any moment, even right after a SIGKILL: the pool opens and is sound,
    holds no more than the target and no task twice, and any exports on disk are an
    earlier copy of it (every exported task is finished in the pool)."""
    pool = pool_path_for(output)
    if not pool.exists() or pool.stat().st_size == 0:
        return
    with open_pool_store(pool, create=False) as store:
        assert store.integrity_problems() == []
        finished = store.completed()
    ids = [task["task_id"] for task in finished]
    assert len(ids) == len(set(ids)) and len(ids) <= TARGET
    exported = output / "self_instruct.jsonl"
    if exported.exists():
        exported_ids = [json.loads(line)["id"] for line in exported.read_text().splitlines()]
        assert set(exported_ids) <= set(ids)


def kill_when(process: subprocess.Popen, output: Path, moment: tuple[str, float]) -> bool:
    """SIGKILLs the command's process tree at `moment`: ("s", seconds after start),
    ("finished", k: once k tasks are finished) or ("export", 0: while the exports are
    written). False when the command ended first."""
    kind, value = moment
    started = time.monotonic()
    while process.poll() is None:
        if kind == "s" and time.monotonic() - started >= value:
            break
        if kind == "finished" and (finished_count(output) or 0) >= value:
            break
        if kind == "export" and any(output.glob(".distiset.new-*")):
            break
        if time.monotonic() - started > 300:
            pytest.fail(f"moment {moment} never came")
        time.sleep(0.01)
    if process.poll() is not None:
        process.communicate()
        return False
    tree = descendants(process.pid)
    kill_tree(process)
    assert wait_gone(tree) == [], "processes outlived the kill"
    return True


# Twenty moments over a run's life, in two directories: while it starts (imports, YAML,
# the pool's creation, the steps loading), while it generates and waits, right after
# tasks finish (the commit, the next rounds), and while the exports are written. Every
# rerun is killed again, so each later moment is also a kill of a resumed run.
CHAINS = {
    "starting": [("s", t) for t in (0.3, 0.8, 1.5, 2.5, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0)],
    "running": [
        ("finished", 1),
        ("finished", 1),
        ("finished", 2),
        ("s", 14.0),
        ("finished", 3),
        ("finished", 4),
        ("finished", 4),
        ("finished", TARGET),
        ("export", 0),
        ("export", 0),
    ],
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_a_run_killed_again_and_again_resumes_to_exactly_the_target(
    tmp_path: Path, server: str, chain: str
) -> None:
    output = tmp_path / "run"
    killed = 0
    for moment in CHAINS[chain]:
        process = start(generate_args(server, output, TARGET), tmp_path)
        if kill_when(process, output, moment):
            killed += 1
        mid_run_invariants(output)
    assert killed >= len(CHAINS[chain]) - 2, "most moments must interrupt the run"
    final = run(generate_args(server, output, TARGET), tmp_path)
    outcome = check_run(output, TARGET, final)
    assert outcome.recovered, (outcome, final.stderr)
    summary = json.loads((output / "summary.json").read_text())
    accepted = summary["instructions_accepted"]
    assert (
        accepted == summary["tasks_finished"] + summary["tasks_lost"] + summary["tasks_unfinished"]
    )


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory: pytest.TempPathFactory, server: str) -> Path:
    """A run killed after its first finished task: distilabel's cache is on disk."""
    work = tmp_path_factory.mktemp("interrupted")
    output = work / "run"
    process = start(generate_args(server, output, 3), work)
    assert kill_when(process, output, ("finished", 1))
    assert list((output / "cache").glob("*/*/executions/*/pipeline.yaml"))
    return output


@pytest.mark.parametrize("damage", ["empty", "cut-8000", "cut-half", "garbage"])
def test_a_damaged_distilabel_cache_never_stops_the_rerun(
    interrupted_run: Path, tmp_path: Path, server: str, damage: str
) -> None:
    output = tmp_path / "run"
    shutil.copytree(interrupted_run, output)
    for cached in output.glob("cache/*/*/executions/*/pipeline.yaml"):
        if damage == "empty":
            os.truncate(cached, 0)
        elif damage == "cut-8000":
            os.truncate(cached, min(8000, cached.stat().st_size - 1))
        elif damage == "cut-half":
            os.truncate(cached, cached.stat().st_size // 2)
        else:
            cached.write_bytes(b"\x00\xff garbage: [unclosed\n")
    final = run(generate_args(server, output, 3), tmp_path)
    outcome = check_run(output, 3, final)
    assert outcome.recovered, (outcome, final.stderr)


def _fsize_limit(limit: int):
    """A `preexec_fn` that limits every file the process writes to `limit` bytes."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def finished_run(work: Path, server: str, target: int = 3) -> Path:
    output = work / "run"
    result = run(generate_args(server, output, target), work)
    assert result.returncode == 0, result.stderr
    assert verify_run(output) == []
    return output


@pytest.fixture(scope="module")
def done_run(tmp_path_factory: pytest.TempPathFactory, server: str) -> Path:
    return finished_run(tmp_path_factory.mktemp("done"), server)


def export_bytes(output: Path) -> dict[str, bytes]:
    return {
        name: (output / name).read_bytes()
        for name in ("self_instruct.jsonl", "alpaca.json", "summary.json")
    }


@pytest.mark.parametrize("damage", ["zero-bytes", "truncated", "garbage"])
def test_a_damaged_pool_is_reported_and_the_exports_stay_the_last_good_copy(
    done_run: Path, tmp_path: Path, server: str, damage: str
) -> None:
    output = tmp_path / "run"
    shutil.copytree(done_run, output)
    before = export_bytes(output)
    pool = pool_path_for(output)
    for sidecar in (pool.with_name(pool.name + "-wal"), pool.with_name(pool.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    if damage == "zero-bytes":
        os.truncate(pool, 0)
    elif damage == "truncated":
        os.truncate(pool, pool.stat().st_size // 3)
    else:
        pool.write_bytes(b"not a database" * 100)
    for args in (generate_args(server, output, 4), ["export", "--output", str(output)]):
        result = run(args, tmp_path)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "pool" in lines[0] and "last good copy" in lines[0], lines
        assert "Traceback" not in result.stdout + result.stderr
        assert export_bytes(output) == before
    problems = verify_run(output)
    assert len(problems) == 1 and "pool.sqlite" in problems[0], problems


@pytest.mark.parametrize(
    ("room", "message"),
    [
        # No room at all: SQLite cannot even create the pool's shared-memory file.
        (512, "cannot be read or written (disk I/O error); is the disk full?"),
        # Room for the pool (its 32 KiB shared-memory file), not for the exports.
        (40_000, "self_instruct.jsonl: File too large (none of the exports was replaced"),
    ],
    ids=["disk-full", "no-room-for-the-exports"],
)
def test_a_full_disk_fails_in_one_line_and_a_later_export_completes_the_run(
    done_run: Path, tmp_path: Path, room: int, message: str
) -> None:
    """The exports of a run on a disk that has filled up, simulated by the file-size limit
    (`RLIMIT_FSIZE`): every write past `room` bytes fails as on a full disk. Nothing on
    disk changes; once there is room, `export` completes the run."""
    output = tmp_path / "run"
    shutil.copytree(done_run, output)
    with open_pool_store(pool_path_for(output)) as store:  # finished since the last export
        first = store.completed()[0]
        for i in range(200):
            text = f"Extra task number {i} on its own subject."
            task_id = store.accept(
                candidate_id=f"extra{i}",
                instruction=text,
                bootstrap_round=0,
                rouge_l_max=0.1,
                most_similar_task_id=None,
            )
            store.complete([dict(first, task_id=task_id, instruction=text)])
        store.set_meta("target", "203")
    before = export_bytes(output)
    result = subprocess.run(
        [*COMMAND, "export", "--output", str(output)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_fsize_limit(room),
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfinstruct: ") and message in lines[0], lines
    assert "Traceback" not in result.stdout
    assert export_bytes(output) == before
    assert not [p for p in output.iterdir() if p.name.startswith(".") and "~" in p.name]
    result = run(["export", "--output", str(output)], tmp_path)
    assert result.returncode == 0, result.stderr
    # verify compares the summary too: `export` rewrote it from the pool.
    assert verify_run(output) == []


@pytest.mark.parametrize("mode", ["error500", "unauthorized", "garbage"])
def test_a_server_that_fails_mid_run_stops_it_fast_and_the_rerun_finishes(
    tmp_path: Path, server: str, mode: str
) -> None:
    output = tmp_path / "run"
    # The first server answers the preflight and some requests, then fails on every one.
    with fake_server("ok-then-500" if mode == "error500" else mode, fail_after=12) as broken:
        started = time.monotonic()
        if mode == "error500":
            result = run(generate_args(broken, output, TARGET), tmp_path)
        else:
            # 401 / non-JSON from the first request on: the preflight or the first call.
            result = run(generate_args(broken, output, TARGET), tmp_path)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert elapsed < 120, f"took {elapsed:.0f} s to stop"
    first = [line for line in result.stderr.splitlines() if line.startswith("selfinstruct:")]
    assert len(first) == 1 and "127.0.0.1" in first[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    if output.exists() and pool_path_for(output).exists():
        with open_pool_store(pool_path_for(output)) as store:
            reasons = {reason for (_, reason) in store.drop_counts()}
        assert "unparseable_reply" not in reasons
    final = run(generate_args(server, output, TARGET), tmp_path)
    outcome = check_run(output, TARGET, final)
    assert outcome.recovered, (outcome, final.stderr)


def test_a_flaky_server_is_retried_counted_and_never_crashes_the_run(tmp_path: Path) -> None:
    # Streamed requests: 429s, 503s and dropped connections are retried (and counted);
    # the instances of honeybee tasks always fail, so those tasks are counted drops.
    output = tmp_path / "run"
    target = 30
    with fake_server("flaky") as flaky:
        args = [*generate_args(flaky, output, target), "--max-concurrency", "4"]
        result = run(args, tmp_path)
    outcome = check_run(output, target, result)
    assert outcome.recovered, (outcome, result.stderr[-3000:])
    assert "Traceback" not in result.stdout + result.stderr
    summary = json.loads((output / "summary.json").read_text())
    assert {"rate_limited", "server_error", "connection"} <= set(summary["llm_retries"])
    assert summary["drops"].get("instances/llm_request_failed", 0) >= 1
    errors = sum(stage["llm_errors"] for stage in summary["usage"].values())
    assert errors == summary["drops"]["instances/llm_request_failed"]
    with open_pool_store(pool_path_for(output)) as store:
        finished = store.completed()
    assert not [task for task in finished if "honeybee" in task["instruction"]]


@pytest.mark.parametrize("signals", ["sigint", "sigint-twice-fast", "sigint-twice-slow", "sigterm"])
def test_signals_stop_the_run_in_seconds_and_it_resumes(tmp_path: Path, signals: str) -> None:
    output = tmp_path / "run"
    with fake_server("ok", delay_s=0.5) as slow:
        process = start(generate_args(slow, output, TARGET), tmp_path)
        while (finished_count(output) or 0) < 1:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        tree = descendants(process.pid)
        sent = time.monotonic()
        if signals == "sigterm":
            process.send_signal(signal.SIGTERM)
        else:
            process.send_signal(signal.SIGINT)
            if signals != "sigint":
                time.sleep(0.3 if signals == "sigint-twice-fast" else 8.0)
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - sent
        assert wait_gone(tree) == [], "pipeline processes outlived the stop"
    assert took < 25, f"took {took:.0f} s to stop"
    assert process.returncode == (143 if signals == "sigterm" else 130), stderr
    assert "Traceback" not in stderr and "IndexError" not in stderr
    assert "continuing" not in stderr
    assert stderr.strip().splitlines()[-1].strip().startswith("resume with: selfinstruct generate")
    mid_run_invariants(output)
    with fake_server("ok") as fast:
        final = run(generate_args(fast, output, TARGET), tmp_path)
    outcome = check_run(output, TARGET, final)
    assert outcome.recovered, (outcome, final.stderr)
