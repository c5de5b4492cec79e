"""The step with an unreachable server, and secrets in dumps: no server needed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from distilabel_selfinstruct.argilla.step import SelfInstructToArgilla
from tests.argilla.helpers import make_classification_task, make_task, unused_port

SECRET = "never-print-this-key-8d1f"


def test_step_passes_rows_through_when_server_is_down(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    step = SelfInstructToArgilla(
        name="to_argilla",
        api_url=url,
        api_key=SECRET,
        dataset_name="review",
        dataset_workspace="argilla",
        max_retries=2,
        retry_base_delay=0.01,
        resume_input="out/official.jsonl",
    )
    rows = [make_task(0), make_classification_task(1)]
    with caplog.at_level(logging.WARNING):
        step.load()
        assert next(step.process(rows)) == rows
        assert next(step.process([make_task(2)])) == [make_task(2)]
        step.unload()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    summary = [m for m in warnings if "NOT pushed" in m]
    assert len(summary) == 1
    assert "3 tasks (4 records) were NOT pushed to dataset 'review'" in summary[0]
    assert (
        "selfinstruct push --input out/official.jsonl --dataset review --workspace argilla "
        f"--api-url {url}" in summary[0]
    )
    assert all("\n" not in m and SECRET not in m for m in warnings)


def test_step_without_key_does_not_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    step = SelfInstructToArgilla(name="to_argilla", dataset_name="review", api_key=None)
    step.load()
    assert next(step.process([make_task(0)])) == [make_task(0)]
    step.unload()


def test_api_key_is_not_serialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    monkeypatch.setenv("ARGILLA_API_KEY", SECRET)
    with Pipeline(name="secret-check") as pipeline:
        load = LoadDataFromDicts(data=[make_task(0)])
        to_argilla = SelfInstructToArgilla(dataset_name="review", api_url="http://127.0.0.1:1")
        load >> to_argilla
    assert to_argilla.api_key.get_secret_value() == SECRET  # read from the env...
    dumps = [
        str(to_argilla.dump()),
        str(pipeline.dump()),
        to_argilla.model_dump_json(),
        repr(to_argilla),
    ]
    pipeline.save(tmp_path / "pipeline.yaml", format="yaml")
    dumps.append((tmp_path / "pipeline.yaml").read_text())
    for text in dumps:  # ...but never written out
        assert SECRET not in text
    assert "http://127.0.0.1:1" in dumps[-1]


def test_batch_size_limit() -> None:
    with pytest.raises(ValueError):
        SelfInstructToArgilla(name="x", dataset_name="d", batch_size=501)


def test_docstring_sections_parse() -> None:
    from distilabel.utils.docstring import parse_google_docstring

    doc = parse_google_docstring(SelfInstructToArgilla)
    assert doc["citations"] and "2212.10560" in doc["citations"][0]
    assert {"dataset_name", "api_key", "batch_size", "max_retries"} <= set(
        doc["runtime_parameters"]
    )
    assert "task_id" in doc["input_columns"]
    assert doc["categories"] == ["save", "argilla", "human-review"]


def test_pipeline_completes_when_server_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    monkeypatch.setenv("DISTILABEL_CACHE_DIR", str(tmp_path / "distilabel"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    tasks = [make_task(i) for i in range(5)]
    with Pipeline(name="argilla-down") as pipeline:
        load = LoadDataFromDicts(data=tasks, batch_size=2)
        to_argilla = SelfInstructToArgilla(
            dataset_name="review",
            api_url=f"http://127.0.0.1:{unused_port()}",
            api_key=SECRET,
            max_retries=1,
            retry_base_delay=0.01,
            resume_input="out/official.jsonl",
        )
        load >> to_argilla
    distiset = pipeline.run(use_cache=False)

    rows = distiset["default"]["train"].to_list()
    assert {r["task_id"]: r["instances"] for r in rows} == {
        t["task_id"]: t["instances"] for t in tasks
    }
    logs = "\n".join(p.read_text() for p in (tmp_path / "distilabel").rglob("pipeline.log"))
    assert logs.count("were NOT pushed") == 1
    assert "5 tasks (5 records) were NOT pushed" in logs
    assert "selfinstruct push --input out/official.jsonl --dataset review" in logs
    assert SECRET not in logs
