"""A teammate's machine: the built wheel in a fresh venv outside the checkout, an empty home
(no assembled model, no caches), the README's first command, then the YAML it saved rerun
in another directory by someone else. `scripts/test` builds the venv (`scripts/wheel-venv`)
and sets SELFINSTRUCT_WHEEL_VENV; CI fails rather than skips without it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET = 3


@pytest.fixture(scope="module")
def venv() -> Path:
    configured = os.environ.get("SELFINSTRUCT_WHEEL_VENV")
    if not configured:
        if os.environ.get("CI"):
            pytest.fail("CI must test the wheel: scripts/test sets SELFINSTRUCT_WHEEL_VENV")
        pytest.skip(
            "no wheel venv: `bash scripts/wheel-venv DIR`, then SELFINSTRUCT_WHEEL_VENV=DIR/venv"
        )
    return Path(configured)


def fresh_user(root: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A working directory and an environment with an empty home and none of our settings."""
    home, work = root / name / "home", root / name / "work"
    home.mkdir(parents=True)
    work.mkdir(parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SELFINSTRUCT_", "DISTILABEL_", "HF_", "XDG_", "VIRTUAL_ENV"))
    }
    env["HOME"] = str(home)
    return work, env


def finished_tasks(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "pool.sqlite") as connection:
        return connection.execute("SELECT COUNT(*) FROM completed").fetchone()[0]


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 1200):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def first_run(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("machines")
    work, env = fresh_user(root, "alice")
    result = run(
        [
            str(venv / "bin" / "selfinstruct"),
            "generate",
            "--num-instructions",
            str(TARGET),
            "--output",
            "selfinstruct-out",
            "--save-yaml",
            "pipeline.yaml",
        ],
        work,
        env,
    )
    return {"root": root, "work": work, "env": env, "result": result, "venv": venv}


@pytest.mark.timeout(600)  # sets up first_run: 143 s in the CI dry run
def test_the_package_comes_from_the_wheel_not_the_checkout(first_run: dict) -> None:
    probe = run(
        [
            str(first_run["venv"] / "bin" / "python"),
            "-c",
            "import distilabel_selfinstruct as p; print(p.__file__)",
        ],
        first_run["work"],
        first_run["env"],
    )
    location = Path(probe.stdout.strip())
    assert "site-packages" in location.parts and REPO_ROOT not in location.parents


@pytest.mark.timeout(60, func_only=True)
def test_the_readme_first_command_works_on_the_first_try_from_an_empty_home(
    first_run: dict,
) -> None:
    result = first_run["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert finished_tasks(first_run["work"] / "selfinstruct-out") == TARGET
    assert f"finished with instances: {TARGET} (target {TARGET})" in result.stdout
    # Progress lines and the summary, not distilabel's per-batch log.
    assert "distilabel.pipeline" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    model = first_run["root"] / "alice" / "home" / ".cache" / "distilabel-selfinstruct"
    assert (model / "gemma-3-270m-q4_k_m.gguf").stat().st_size > 200_000_000
    summary = json.loads((first_run["work"] / "selfinstruct-out" / "summary.json").read_text())
    assert summary["tasks_finished"] == TARGET


@pytest.mark.timeout(60, func_only=True)
def test_the_saved_yaml_names_nothing_of_the_authors_machine(first_run: dict) -> None:
    text = (first_run["work"] / "pipeline.yaml").read_text()
    for local in (
        str(first_run["root"]),
        str(REPO_ROOT),
        tempfile.gettempdir() + "/",
        str(Path.home()) + "/",
        "n_threads: 2",
    ):
        assert local not in text, local
    assert "seeds_path: null" in text  # the bundled seeds, by name
    assert "model_file: gemma-3-270m-q4_k_m.gguf" in text


@pytest.mark.timeout(600, func_only=True)  # 193 s in CI
def test_a_teammate_reruns_the_yaml_elsewhere_and_reaches_the_target(first_run: dict) -> None:
    work, env = fresh_user(first_run["root"], "bob")
    shutil.copy(first_run["work"] / "pipeline.yaml", work / "pipeline.yaml")
    result = run(
        [str(first_run["venv"] / "bin" / "selfinstruct"), "run", "--config", "pipeline.yaml"],
        work,
        env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert finished_tasks(work / "selfinstruct-out") == TARGET


@pytest.mark.timeout(900, func_only=True)  # 167 s a pass in CI, up to 3
def test_distilabels_own_cli_runs_the_yaml_on_the_teammates_machine(first_run: dict) -> None:
    work, env = fresh_user(first_run["root"], "carol")
    shutil.copy(first_run["work"] / "pipeline.yaml", work / "pipeline.yaml")
    command = [
        str(first_run["venv"] / "bin" / "distilabel"),
        "pipeline",
        "run",
        "--config",
        "pipeline.yaml",
        "--ignore-cache",
    ]
    # distilabel's CLI has no rerun loop: a short pass is resumed by running it again.
    for _ in range(3):
        result = run(command, work, env)
        assert result.returncode == 0, result.stdout[-3000:]
        if finished_tasks(work / "selfinstruct-out") >= TARGET:
            break
    assert finished_tasks(work / "selfinstruct-out") == TARGET


@pytest.mark.timeout(420, func_only=True)  # 17 s in CI; its 2nd run is capped at 300 s
def test_a_yaml_whose_model_is_absent_stops_with_one_line(first_run: dict) -> None:
    venv, env = first_run["venv"], first_run["env"]
    author = first_run["work"]
    bundled = first_run["root"] / "alice" / "home" / ".cache" / "distilabel-selfinstruct"
    custom = author / "models" / "my-7b.gguf"
    custom.parent.mkdir()
    custom.write_bytes((bundled / "gemma-3-270m-q4_k_m.gguf").read_bytes() + b"\0")
    script = (
        "from distilabel_selfinstruct.llms import LlamaCppCompletionLLM\n"
        "from distilabel_selfinstruct.pipeline import build_pipeline\n"
        "llm = LlamaCppCompletionLLM(model_path='models/my-7b.gguf')\n"
        "build_pipeline(llm=llm, num_instructions=2, output_dir='out').save('custom.yaml', format='yaml')\n"
    )
    made = run([str(venv / "bin" / "python"), "-c", script], author, env)
    assert made.returncode == 0, made.stderr
    work, other_env = fresh_user(first_run["root"], "dave")
    shutil.copy(author / "custom.yaml", work / "custom.yaml")
    result = run(
        [str(venv / "bin" / "selfinstruct"), "run", "--config", "custom.yaml"], work, other_env
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "expects the GGUF 'my-7b.gguf'" in line and "SELFINSTRUCT_MODEL_PATH" in line
    # distilabel's CLI stops at load with the same sentence, and never runs another model.
    result = run(
        [str(venv / "bin" / "distilabel"), "pipeline", "run", "--config", "custom.yaml"],
        work,
        other_env,
        timeout=300,
    )
    assert result.returncode != 0
    assert "expects the GGUF 'my-7b.gguf'" in result.stdout + result.stderr
    assert not (work / "out" / "pool.sqlite").exists() or finished_tasks(work / "out") == 0
