"""The empty-last-batch fix: on distilabel's batch manager directly, then on a real pipeline
in a child process (where, without the fix, it hangs)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from distilabel.pipeline import Pipeline
from distilabel.pipeline.batch_manager import _Batch, _BatchManager, _BatchManagerStep
from distilabel.steps import LoadDataFromDicts, Step, StepInput
from distilabel.typing import StepOutput

from distilabel_selfinstruct.compat import DISABLE_ENV
from distilabel_selfinstruct.compat import distilabel_batch_manager as fix
from tests.compat import children

CHILD = Path(__file__).with_name("empty_last_batch_pipeline.py")


def sink_after_one_full_batch() -> _BatchManagerStep:
    """The sink's batch manager step once the filter's first batch has been passed on, so
    its buffer is empty (batches of 2, as in distilabel's own tests)."""
    step = _BatchManagerStep(
        step_name="sink",
        accumulate=False,
        input_batch_size=2,
        data={"filter": []},
        next_expected_seq_no={"filter": (0, 0)},
        step_offset={"filter": (0, 0)},
    )
    step.add_batch(_Batch(seq_no=0, step_name="filter", last_batch=False, data=[[{"n": 0}] * 2]))
    first = step.get_batch()
    assert first is not None and not first.last_batch
    return step


@pytest.mark.parametrize(
    ("method", "passed_on"),
    [(fix.ready_to_create_batch_normal, True), (fix.original(), False)],
    ids=["with the fix", "distilabel's own"],
)
def test_an_empty_last_batch_is_passed_on_only_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, method: Callable[[Any], bool], passed_on: bool
) -> None:
    monkeypatch.setattr(_BatchManagerStep, "_ready_to_create_batch_normal", method)
    step = sink_after_one_full_batch()
    # The filter dropped every row of its last batch.
    step.add_batch(_Batch(seq_no=1, step_name="filter", last_batch=True, data=[[]]))
    last = step.get_batch()
    if not passed_on:
        assert last is None  # the sink never hears the end of the data: the run hangs
        return
    assert last is not None and last.last_batch and last.data == [[]]
    assert step.get_batch() is None  # and only once


def test_the_fix_keeps_full_and_partial_last_batches_as_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for method in (fix.ready_to_create_batch_normal, fix.original()):
        monkeypatch.setattr(_BatchManagerStep, "_ready_to_create_batch_normal", method)
        step = sink_after_one_full_batch()
        step.add_batch(_Batch(seq_no=1, step_name="filter", last_batch=True, data=[[{"n": 1}]]))
        last = step.get_batch()
        assert last is not None and last.last_batch and last.data == [[{"n": 1}]]
        assert step.get_batch() is None


@pytest.mark.parametrize(
    ("method", "flushed"),
    [(fix.ready_to_create_batch_normal, True), (fix.original(), False)],
    ids=["with the fix", "distilabel's own"],
)
def test_an_empty_batch_flushes_what_is_buffered_before_it(
    monkeypatch: pytest.MonkeyPatch, method: Callable[[Any], bool], flushed: bool
) -> None:
    monkeypatch.setattr(_BatchManagerStep, "_ready_to_create_batch_normal", method)
    step = sink_after_one_full_batch()
    step.add_batch(_Batch(seq_no=1, step_name="filter", last_batch=False, data=[[{"n": 1}]]))
    assert step.get_batch() is None  # half a batch: it waits for more rows
    # A heartbeat (or a filter that dropped everything) arrives empty.
    step.add_batch(_Batch(seq_no=2, step_name="filter", last_batch=False, data=[[]]))
    batch = step.get_batch()
    if not flushed:
        assert batch is None  # the row waits until more rows come, which may be never
        return
    assert batch is not None and not batch.last_batch and batch.data == [[{"n": 1}]]
    # An empty batch alone makes an empty batch: the heartbeat travels on.
    step.add_batch(_Batch(seq_no=3, step_name="filter", last_batch=False, data=[[]]))
    beat = step.get_batch()
    assert beat is not None and beat.data == [[]] and not beat.last_batch
    assert step.get_batch() is None
    # Rows after it still make full batches.
    step.add_batch(_Batch(seq_no=4, step_name="filter", last_batch=False, data=[[{"n": 4}] * 2]))
    full = step.get_batch()
    assert full is not None and full.data == [[{"n": 4}] * 2]


def test_our_pipelines_use_the_fix_and_distilabel_s_class_stays_as_it_was() -> None:
    assert fix.FIX.decide() == fix.APPLIED
    assert _BatchManagerStep.__dict__["_ready_to_create_batch_normal"] is fix.original()
    assert fix.original() is not fix.ready_to_create_batch_normal
    manager = _BatchManager.from_dag(sink_pipeline().dag)
    assert fix.install(manager)
    assert {type(step) for step in manager._steps.values()} == {fix.FlushingBatchManagerStep}
    # Another pipeline's batch manager is distilabel's own.
    other = _BatchManager.from_dag(sink_pipeline().dag)
    assert {type(step) for step in other._steps.values()} == {_BatchManagerStep}


def test_the_fix_was_written_against_the_installed_source() -> None:
    assert fix.source_sha256(fix.original()) == fix.ORIGINAL_SHA256


@pytest.mark.parametrize(
    ("version", "sha256", "problem"),
    [
        ("1.5.3", fix.ORIGINAL_SHA256, None),
        ("1.5.3", "0" * 64, "not the code the empty-last-batch fix was written against"),
        ("1.5.3", None, "not the code"),  # no source to read (e.g. only .pyc files)
        ("1.6.0", fix.ORIGINAL_SHA256, "outside >=1.5.3,<1.6"),
        ("1.5.2", fix.ORIGINAL_SHA256, "outside"),
    ],
)
def test_the_guard(version: str, sha256: str | None, problem: str | None) -> None:
    reason = fix.why_not_applicable(version, sha256)
    assert (reason is None) if problem is None else (problem in (reason or ""))


def test_a_changed_original_is_not_used_and_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def changed(self: Any) -> bool:
        return False

    monkeypatch.setattr(_BatchManagerStep, "_ready_to_create_batch_normal", changed)
    monkeypatch.setattr(fix.FIX, "outcome", None)
    with pytest.warns(RuntimeWarning, match="not used"):
        outcome = fix.FIX.decide()
    assert "not the code" in outcome
    manager = _BatchManager.from_dag(sink_pipeline().dag)
    assert not fix.install(manager)
    assert {type(step) for step in manager._steps.values()} == {_BatchManagerStep}
    assert fix.FIX.decide() == outcome  # decided once per process: no second warning


def test_the_environment_turns_the_fix_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "something_else, distilabel_batch_manager")
    monkeypatch.setattr(fix.FIX, "outcome", None)
    assert fix.FIX.decide() == fix.DISABLED
    manager = _BatchManager.from_dag(sink_pipeline().dag)
    assert not fix.install(manager)
    assert {type(step) for step in manager._steps.values()} == {_BatchManagerStep}


def sink_pipeline() -> Pipeline:
    with Pipeline(name="sink") as pipeline:
        LoadDataFromDicts(data=[{"n": 0}]) >> KeepAll()
    return pipeline


class KeepAll(Step):
    @property
    def inputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        yield inputs


def start_child(tmp_path: Path, pipeline: str) -> tuple[subprocess.Popen, Path, Path]:
    return children.start_child(tmp_path, CHILD, pipeline, fix.NAME, "filter-saw-the-last-row")


@pytest.mark.timeout(60)  # ~6 s alone on 2 cores
def test_our_pipeline_whose_filter_empties_the_last_batch_finishes(tmp_path: Path) -> None:
    process, log, _ = start_child(tmp_path, "ours")
    try:
        process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the pipeline did not finish in 45 s:\n{log.read_text()[-3000:]}")
    finally:
        children.stop_child(process)
    output = log.read_text()
    assert process.returncode == 0, output[-3000:]
    assert "rows: 4" in output


@pytest.mark.timeout(60)  # ~15 s: start-up, then 10 s of waiting
@pytest.mark.parametrize("pipeline", ["plain", "disabled"])
def test_without_the_fix_the_same_pipeline_hangs(tmp_path: Path, pipeline: str) -> None:
    process, log, marker = start_child(tmp_path, pipeline)
    try:
        deadline = time.monotonic() + 40
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), f"the filter never saw the last row:\n{log.read_text()[-3000:]}"
        # The with-fix run ends about a second after this point; this one never does.
        time.sleep(10)
        assert process.poll() is None, log.read_text()[-3000:]
    finally:
        children.stop_child(process)
    assert "rows:" not in log.read_text()
