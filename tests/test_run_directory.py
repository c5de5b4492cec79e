"""The run directory's owner, whichever way the pipeline is started: a YAML saved by
`selfinstruct generate` and run by a teammate with `distilabel pipeline run --config` from
another directory ends with the same exports, summary and report as the command line, and a
mismatched run directory is one line there; from Python, `build_pipeline(...).run()` does
the same, and its arguments are checked up front."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distilabel_selfinstruct.pipeline import PipelineArgumentError, build_pipeline
from distilabel_selfinstruct.run_directory import RunDirectoryError
from tests.scripted import check_invariants, distilabel_command, scripted_llm

pytestmark = pytest.mark.usefixtures("isolated_env")

ROOT = Path(__file__).resolve().parents[1]


def run_cli(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "distilabel_selfinstruct.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def run_distilabel(cwd: Path, config: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*distilabel_command(), "--config", str(config)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def saved_yaml(tmp_path: Path, name: str, **kwargs) -> Path:
    """A scripted pipeline's YAML, its run directory an absolute path under `tmp_path`."""
    settings = {"num_instructions": 4, "output_dir": tmp_path / "run", **kwargs}
    pipeline = build_pipeline(llm=scripted_llm(), prompt_style="completion", name=name, **settings)
    path = tmp_path / f"{name}.yaml"
    pipeline.save(path, format="yaml")
    return path


@pytest.mark.timeout(400)
def test_a_shared_yaml_run_by_distilabel_ends_as_the_command_line_does(tmp_path: Path) -> None:
    config = saved_yaml(tmp_path, "t-shared")
    elsewhere = tmp_path / "teammate"
    elsewhere.mkdir()
    result = run_distilabel(elsewhere, config)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    run = tmp_path / "run"
    check_invariants(run, 4)
    exported = (run / "self_instruct.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(exported) == 4
    assert len(json.loads((run / "alpaca.json").read_text(encoding="utf-8"))) >= 4
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["tasks_finished"] == 4 and summary["target"] == 4
    assert (run / "report" / "report.html").is_file()
    assert (run / "distiset").is_dir()
    # distilabel's cache went to the run directory, not the user's home or the cwd.
    assert (run / "cache").is_dir() and not list(elsewhere.iterdir())
    # `selfinstruct verify` finds nothing wrong in what distilabel's command left.
    verify = run_cli(tmp_path, "verify", "--output", str(run))
    assert (verify.returncode, verify.stderr) == (0, ""), verify.stderr


@pytest.mark.timeout(400)
def test_a_mismatched_run_directory_is_one_line_under_distilabel_and_raises_in_python(
    tmp_path: Path,
) -> None:
    first = saved_yaml(tmp_path, "t-first")
    assert run_distilabel(tmp_path, first).returncode == 0
    # Another novelty rule on the same pool: refused before anything runs.
    other = saved_yaml(tmp_path, "t-other", rouge_threshold=0.6)
    result = run_distilabel(tmp_path, other)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"distilabel_selfinstruct: {tmp_path / 'run' / 'pool.sqlite'}: this run was started"
        " with rouge_threshold 0.7 (now 0.6); rerun it with the same settings, or start a new"
        " run in another directory"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    # A smaller target than what is finished: refused, never rewritten.
    smaller = saved_yaml(tmp_path, "t-smaller", num_instructions=2)
    result = run_distilabel(tmp_path, smaller)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "already has 4 finished tasks, more than the target 2: ask for at least 4, or use"
        " another run directory"
    )
    assert result.stderr.count("\n") == 1
    # Other filter settings: the filters decide what is accepted, so the pool is another run's.
    checks = saved_yaml(tmp_path, "t-checks", skip_checks=["repetition"])
    result = run_distilabel(tmp_path, checks)
    assert result.returncode == 2
    assert "other settings of filter_instances" in result.stderr
    # The same from Python: one exception with that line, nothing run.
    with pytest.raises(RunDirectoryError) as raised:
        build_pipeline(
            llm=scripted_llm(),
            prompt_style="completion",
            num_instructions=4,
            output_dir=tmp_path / "run",
            rouge_threshold=0.6,
            name="t-python",
        ).run()
    assert "\n" not in str(raised.value) and "rouge_threshold 0.7 (now 0.6)" in str(raised.value)
    # The exports of the first run are untouched.
    exported = (tmp_path / "run" / "self_instruct.jsonl").read_text(encoding="utf-8")
    assert len(exported.splitlines()) == 4


@pytest.mark.timeout(400)
def test_pipeline_run_from_python_writes_the_exports_and_summary(tmp_path: Path) -> None:
    pipeline = build_pipeline(
        llm=scripted_llm(), prompt_style="completion", num_instructions=3, output_dir=tmp_path
    )
    pipeline.run()  # distilabel's default use_cache=True: the loop runs from its pool anyway
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["tasks_finished"] == 3
    assert len((tmp_path / "self_instruct.jsonl").read_text(encoding="utf-8").splitlines()) == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seeds_path": 7}, "build_pipeline(seeds_path=7): expected a path or a list of paths"),
        ({"seeds_path": ["gone.jsonl"]}, "bad seed file: gone.jsonl: file not found"),
        ({"num_instructions": 0}, "build_pipeline(num_instructions=0): expected a whole number"),
        ({"rouge_threshold": 1.5}, "build_pipeline(rouge_threshold=1.5): must be from 0 to 1"),
        ({"skip_checks": "markup"}, "build_pipeline(skip_checks='markup'): expected a list"),
        ({"skip_checks": ["spelling"]}, "unknown check(s) spelling"),
        ({"prompt_style": "poem"}, "build_pipeline(prompt_style='poem'): expected one of"),
        ({"step_resources": {"nope": {}}}, "build_pipeline(step_resources=...): no step 'nope'"),
    ],
)
def test_build_pipeline_refuses_bad_arguments_in_one_line_before_building(
    tmp_path: Path, arguments: dict, message: str
) -> None:
    with pytest.raises(PipelineArgumentError) as raised:
        build_pipeline(llm=scripted_llm(), output_dir=tmp_path / "run", **arguments)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "run").exists()


def test_one_seed_file_may_be_given_as_a_path(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        json.dumps(
            {
                "id": "seed_task_0",
                "name": "breakfast",
                "instruction": "Is there anything I can eat for a breakfast?",
                "instances": [{"input": "", "output": "Yes: oatmeal."}],
                "is_classification": False,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    pipeline = build_pipeline(llm=scripted_llm(), output_dir=tmp_path / "run", seeds_path=seeds)
    sample = pipeline.dag.get_step("sample_demonstrations")["step"]
    assert sample.run.seeds_path == [str(seeds)]
