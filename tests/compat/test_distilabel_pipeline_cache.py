"""The damaged-cache fix: a pipeline whose cached pipeline.yaml was cut short by a kill
starts again with the fix (the file set aside) and fails without it (distilabel's own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from distilabel_selfinstruct.compat import DISABLE_ENV
from distilabel_selfinstruct.compat import distilabel_pipeline_cache as fix

CHILD = Path(__file__).with_name("cached_yaml_pipeline.py")
ROOT = Path(__file__).resolve().parents[2]


def run_child(cache: Path, pipeline: str) -> subprocess.CompletedProcess:
    """The child pipeline as `pipeline`: "ours" (`SelfInstructPipeline`), "plain"
    (distilabel's `Pipeline`) or "disabled" (ours, with the fix turned off)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(DISABLE_ENV, None)
    if pipeline == "disabled":
        env[DISABLE_ENV] = fix.NAME
    return subprocess.run(
        [sys.executable, str(CHILD), pipeline, str(cache)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def test_the_fix_is_used_on_the_checked_distilabel() -> None:
    assert fix.FIX.decide() == fix.APPLIED
    assert fix.source_sha256(fix.original()) == fix.ORIGINAL_SHA256


@pytest.mark.parametrize("pipeline", ["ours", "plain", "disabled"])
def test_a_cut_cached_pipeline_yaml_stops_the_next_run_only_without_the_fix(
    tmp_path: Path, pipeline: str
) -> None:
    disable = pipeline != "ours"
    cache = tmp_path / "cache"
    first = run_child(cache, "ours")
    assert first.returncode == 0 and "rows: 4" in first.stdout, first.stderr
    (cached,) = cache.glob("cached-yaml/*/executions/*/pipeline.yaml")
    os.truncate(cached, cached.stat().st_size // 2)
    again = run_child(cache, pipeline)
    if disable:
        assert again.returncode != 0
        assert "Error" in again.stderr
    else:
        assert again.returncode == 0 and "rows: 4" in again.stdout, again.stderr
        assert list(cached.parent.glob("pipeline.yaml.damaged-*"))
