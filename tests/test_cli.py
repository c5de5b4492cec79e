"""The `selfinstruct` command as a user meets it: progress, a short ending, the log file,
Ctrl-C, failures. Runs the real command in a subprocess on a scripted-LLM pipeline YAML."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from tests.scripted import check_invariants, scripted_llm

pytestmark = pytest.mark.usefixtures("isolated_env")

COMMAND = [sys.executable, "-m", "distilabel_selfinstruct.cli"]


def save_pipeline(directory: Path, target: int, delay_s: float = 0.0, **kwargs) -> Path:
    """A scripted pipeline saved as a teammate would get it, run dir relative to `directory`."""
    previous = Path.cwd()
    os.chdir(directory)
    try:
        pipeline = build_pipeline(
            llm=scripted_llm(delay_s=delay_s),
            prompt_style="completion",
            num_instructions=target,
            output_dir="run",
            name="t-cli",
            **kwargs,
        )
        pipeline.save("pipeline.yaml", format="yaml")
    finally:
        os.chdir(previous)
    return directory / "pipeline.yaml"


def processes_working_in(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(directory):
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def wait_for_processes(directory: Path, count: int, timeout_s: float = 60) -> bool:
    """Waits until `count` processes work in `directory` (supervisor, child, workers)."""
    deadline = time.monotonic() + timeout_s
    while len(processes_working_in(directory)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(processes_working_in(directory)) >= count


def run_cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_a_saved_pipeline_runs_to_the_target_with_a_short_readable_output(
    tmp_path: Path,
) -> None:
    save_pipeline(tmp_path, target=6)
    result = run_cli(tmp_path, "run", "--config", "pipeline.yaml")
    assert result.returncode == 0, result.stderr
    check_invariants(tmp_path / "run", 6)
    out = result.stdout
    assert "Self-Instruct run summary" in out
    assert "finished with instances: 6 (target 6)" in out
    # distilabel's per-batch log is in the run's log file, not on the terminal.
    assert "distilabel.pipeline" not in out + result.stderr
    log = (tmp_path / "run" / "selfinstruct.log").read_text()
    assert "distilabel.pipeline" in log and "Finished running step" in log
    assert len((out + result.stderr).splitlines()) < 60
    for name in ("self_instruct.jsonl", "alpaca.json", "summary.json"):
        assert (tmp_path / "run" / name).is_file()


def test_verbose_shows_distilabels_log_too(tmp_path: Path) -> None:
    save_pipeline(tmp_path, target=3)
    result = run_cli(tmp_path, "run", "--config", "pipeline.yaml", "--verbose")
    assert result.returncode == 0, result.stderr
    assert "distilabel.pipeline" in result.stderr


def test_missing_seeds_are_refused_before_the_pipeline_starts(tmp_path: Path) -> None:
    # A YAML naming seeds this machine does not have (build_pipeline itself refuses them).
    config = save_pipeline(tmp_path, target=3)
    data = yaml.safe_load(config.read_text())
    for entry in data["pipeline"]["steps"]:
        for holder in (entry["step"], entry["step"].get("run") or {}):
            if "seeds_path" in holder:
                holder["seeds_path"] = ["gone.jsonl"]
    config.write_text(yaml.safe_dump(data))
    result = run_cli(tmp_path, "run", "--config", "pipeline.yaml")
    assert (result.returncode, result.stderr) == (
        2,
        "selfinstruct: bad seed file: gone.jsonl: file not found\n",
    )
    assert not (tmp_path / "run" / "selfinstruct.log").exists()


def test_a_step_that_cannot_load_ends_in_three_short_lines(tmp_path: Path) -> None:
    config = save_pipeline(tmp_path, target=3)
    # Only the instance step's own seed list is wrong: the run's seeds pass the preflight.
    data = yaml.safe_load(config.read_text())
    for entry in data["pipeline"]["steps"]:
        if entry["name"] == "generate_instances":
            entry["step"]["seeds_path"] = ["gone.jsonl"]
    config.write_text(yaml.safe_dump(data))
    result = run_cli(tmp_path, "run", "--config", "pipeline.yaml")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert (
        lines[0]
        == "selfinstruct: the run failed: a step failed to load: gone.jsonl: file not found"
    )
    assert lines[1].strip() == "full log: run/selfinstruct.log"
    assert lines[2].strip().endswith("resume with: selfinstruct run --config pipeline.yaml")
    assert "Traceback" not in result.stdout + result.stderr
    # The full story is in the log.
    assert "Traceback" in (tmp_path / "run" / "selfinstruct.log").read_text()


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", "--config", "nope.yaml")
    assert (result.returncode, result.stderr) == (
        2,
        "selfinstruct: --config: no such file: nope.yaml\n",
    )
    save_pipeline(tmp_path, target=3)
    result = run_cli(tmp_path, "run", "--config", "pipeline.yaml", "--param", "oops")
    assert result.returncode == 2
    assert result.stderr == "selfinstruct: --param 'oops': expected STEP.NAME=VALUE\n"


def start_slow_run(directory: Path) -> subprocess.Popen:
    """A 12-task run on a scripted LLM that takes 0.3 s a reply, in the background."""
    save_pipeline(directory, target=12, delay_s=0.3)
    return subprocess.Popen(
        [*COMMAND, "run", "--config", "pipeline.yaml"],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_the_run_cleanly_and_the_printed_command_resumes_it(tmp_path: Path) -> None:
    process = start_slow_run(tmp_path)
    pool = pool_path_for(tmp_path / "run")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if pool.exists():
                with open_pool_store(pool) as store:
                    if store.completed_count() >= 2:
                        break
            assert process.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.2)
        else:
            pytest.fail("the run made no progress")
        process.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    resume = stderr.strip().splitlines()[-1]
    assert resume.strip() == "resume with: selfinstruct run --config pipeline.yaml"
    with open_pool_store(pool) as store:
        assert 2 <= store.completed_count() < 12
    # Nothing of the pipeline is left running (its processes all work in tmp_path).
    assert processes_working_in(tmp_path) == []
    result = run_cli(tmp_path, *resume.split(":", 1)[1].split()[1:])
    assert result.returncode == 0, result.stderr
    check_invariants(tmp_path / "run", 12)


@pytest.mark.parametrize(
    "processes", [2, 4], ids=["while-the-child-starts", "with-the-workers-running"]
)
def test_killing_the_command_takes_the_pipeline_processes_with_it(
    tmp_path: Path, processes: int
) -> None:
    process = start_slow_run(tmp_path)
    try:
        assert wait_for_processes(tmp_path, processes), "the pipeline never started"
    finally:
        process.kill()  # SIGKILL: no handler of ours runs
        process.wait()
    deadline = time.monotonic() + 20
    while processes_working_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_working_in(tmp_path) == []


def test_sigterm_stops_the_run_at_once_and_says_how_to_resume(tmp_path: Path) -> None:
    process = start_slow_run(tmp_path)
    try:
        wait_for_processes(tmp_path, 4)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].strip().startswith("resume with: selfinstruct run")
    assert processes_working_in(tmp_path) == []


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    process = start_slow_run(tmp_path)
    try:
        wait_for_processes(tmp_path, 4)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Ctrl-C again to stop at once" in stderr
    assert stderr.strip().splitlines()[-1].strip().startswith("resume with: selfinstruct run")
    assert processes_working_in(tmp_path) == []


# -- a pool on PostgreSQL, the steps on Ray ---------------------------------------------------


@pytest.mark.ray
@pytest.mark.timeout(900)
def test_a_saved_pipeline_with_its_pool_on_postgresql_runs_on_ray_from_the_command_line(
    postgres_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.postgres_server import PASSWORD
    from tests.ray_cluster import ray_command

    if ray_command() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Ray tests: scripts/test installs the ray extra")
        pytest.skip("Ray is not installed (pip install 'distilabel-selfinstruct[ray]')")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # as a teammate's shell would have it
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local Ray, started by the run
    url = postgres_server.new_database()
    save_pipeline(tmp_path, target=4, pool=url)
    assert PASSWORD not in (tmp_path / "pipeline.yaml").read_text()
    result = run_cli(tmp_path, "run", "--config", "pipeline.yaml", "--ray", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The run directory is the one build_pipeline was given (the YAML names it); it names
    # the pool, holds the exports and the log.
    run_dir = tmp_path / "run"
    assert (run_dir / "pool.url").read_text().strip() == url
    # Nothing took the URL for a path (the progress display once did: ./postgresql:/...).
    assert not list(tmp_path.glob("postgres*")) and not list(tmp_path.rglob("*.sqlite"))
    check_invariants(run_dir, 4, pool=url)
    exported = (run_dir / "self_instruct.jsonl").read_text().splitlines()
    assert len(exported) == 4
    summary = run_cli(tmp_path, "summary", "--output", "run")
    assert summary.returncode == 0 and "4" in summary.stdout
    verify = run_cli(tmp_path, "verify", "--output", "run")
    assert (verify.returncode, verify.stderr) == (0, ""), verify.stderr


def test_pool_urls_the_command_line_refuses_are_one_line(postgres_server, tmp_path: Path) -> None:
    from tests.postgres_server import PASSWORD

    url = postgres_server.new_database()
    secret = url.replace("selfinstruct@", f"selfinstruct:{PASSWORD}@")
    args = ["generate", "--num-instructions", "2", "--output", "run"]
    result = run_cli(tmp_path, *args, "--pool", secret)
    assert result.returncode == 2
    assert result.stderr.startswith("selfinstruct: --pool: leave the password out of the URL")
    assert PASSWORD not in result.stderr and result.stderr.count("\n") == 1
    result = run_cli(tmp_path, *args, "--pool", "run/pool.sqlite")
    assert result.stderr == "selfinstruct: --pool run/pool.sqlite: expected a postgresql:// URL\n"
    down = "postgresql://selfinstruct@127.0.0.1:1/none"
    result = run_cli(tmp_path, *args, "--pool", down)
    assert result.returncode == 1
    assert result.stderr.startswith(f"selfinstruct: {down}: cannot connect to the pool store (")
    assert result.stderr.endswith("(nothing was changed; rerun once it is reachable)\n")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "run" / "pool.sqlite").exists()
    # A run directory keeps its pool: another one is refused, either way.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "pool.url").write_text(url + "\n")
    result = run_cli(tmp_path, *args)
    assert result.stderr == (
        f"selfinstruct: --output run: its pool is {url}; rerun with --pool {url}"
        " (or use another --output)\n"
    )
    (tmp_path / "run" / "pool.url").unlink()
    open_pool_store(tmp_path / "run" / "pool.sqlite").close()
    result = run_cli(tmp_path, *args, "--pool", url)
    assert result.stderr == (
        "selfinstruct: --output run: its pool is run/pool.sqlite; rerun without --pool"
        " (or use another --output)\n"
    )


def test_ray_and_a_server_pool_without_their_extras_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from distilabel_selfinstruct import cli

    missing = {"ray", "psycopg"}
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a)
    )
    with pytest.raises(
        cli.UserError, match=r"^--ray needs Ray: pip install 'distilabel-selfinstruct\[ray\]'$"
    ):
        cli._check_scale_out_extras(ray=True, networked_pool=False)
    with pytest.raises(cli.UserError, match=r"pool needs psycopg: pip install .*\[postgres\]'$"):
        cli._check_scale_out_extras(ray=False, networked_pool=True)
    cli._check_scale_out_extras(ray=False, networked_pool=False)
    # Through the command itself: one line, exit 2, nothing created.
    code = cli.main(["generate", "--output", str(tmp_path / "run"), "--ray"])
    assert code == 2 and not (tmp_path / "run").exists()
