"""The once-per-run cache writes: the same files, far fewer dumps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from distilabel.pipeline import Pipeline
from distilabel.pipeline.base import BasePipeline
from distilabel.steps import LoadDataFromDicts

from distilabel_selfinstruct.compat import distilabel_cache_writes as fix
from distilabel_selfinstruct.compat._guard import source_sha256
from distilabel_selfinstruct.loop_pipeline import SelfInstructPipeline


def test_our_pipelines_use_both_halves_and_distilabel_s_class_stays_as_it_was() -> None:
    assert fix.active()
    assert "_cache" not in Pipeline.__dict__ and "_cache_location" not in Pipeline.__dict__
    assert BasePipeline.__dict__["_cache"] is fix.CACHE.original()
    assert BasePipeline.__dict__["_cache_location"] is fix.LOCATION.original()
    assert SelfInstructPipeline._cache is not BasePipeline._cache


def test_the_fix_was_written_against_the_installed_source() -> None:
    assert source_sha256(fix.LOCATION.original().fget) == fix.CACHE_LOCATION_SHA256
    assert source_sha256(fix.CACHE.original()) == fix.CACHE_SHA256


class _Manager:
    def __init__(self) -> None:
        self.cached = 0

    def cache(self, path: Path, steps_data_path: Path) -> None:
        self.cached += 1


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    with SelfInstructPipeline(name="cache-writes", cache_dir=tmp_path) as pipeline:
        LoadDataFromDicts(name="load", data=[{"a": 1}])
    return pipeline


def _manage_batch_flow(pipeline: Pipeline) -> None:
    """Calls `_cache` from a function of the name distilabel calls it from after a batch."""
    pipeline._cache()


def test_the_location_is_computed_once_per_batch_manager(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = fix.LOCATION.original()
    monkeypatch.setattr(
        BasePipeline,
        "_cache_location",
        property(lambda self: calls.append(1) or original.fget(self)),
    )
    for _ in range(2):
        assert pipeline._cache_location
    assert len(calls) == 2  # before the run: every read, as distilabel does
    pipeline._batch_manager = _Manager()  # type: ignore[assignment]
    first = pipeline._cache_location
    assert pipeline._cache_location is first and len(calls) == 3
    pipeline._batch_manager = _Manager()  # type: ignore[assignment] - a new run
    assert pipeline._cache_location == first and len(calls) == 4


def test_pipeline_yaml_is_written_once_and_the_batch_manager_at_most_every_interval(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[Any] = []
    monkeypatch.setattr(Pipeline, "save", lambda self, path, **kw: saved.append(Path(path).name))
    manager = _Manager()
    pipeline._batch_manager = manager  # type: ignore[assignment]
    for _ in range(5):
        _manage_batch_flow(pipeline)
    assert saved.count("pipeline.yaml") == 1
    assert manager.cached == 1  # the later four came within the interval
    pipeline._cache()  # the end of the run (any other caller): always written
    assert manager.cached == 2 and saved.count("pipeline.yaml") == 1
