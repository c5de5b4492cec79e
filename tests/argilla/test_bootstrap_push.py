"""The whole bootstrap pipeline ending in Argilla: pushes, re-runs without duplicates, and
keeps its local output when the server is down."""

from pathlib import Path

import pytest

from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from tests.scripted import scripted_llm

from .helpers import unused_port


def run_bootstrap(output: Path, argilla: dict) -> list[dict]:
    pipeline = build_pipeline(
        llm=scripted_llm(),
        prompt_style="completion",
        num_instructions=5,
        output_dir=output,
        name=f"si-boot-{output.name}",
        argilla=argilla,
    )
    pipeline.run(use_cache=False)
    with open_pool_store(pool_path_for(output)) as store:
        return store.completed()


def count_records(client, dataset_name: str, workspace: str) -> int:
    dataset = client.datasets(name=dataset_name, workspace=workspace)
    return sum(1 for _ in dataset.records)


@pytest.mark.argilla  # the real server: `-m "not argilla"` must not start one
def test_rerunning_the_pipeline_pushes_no_duplicates(
    argilla_server, client, dataset_name, tmp_path, monkeypatch, restore_logging
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    argilla = {
        "dataset_name": dataset_name,
        "dataset_workspace": argilla_server.workspace,
        "api_url": argilla_server.api_url,
        "api_key": argilla_server.api_key,
    }
    first = run_bootstrap(tmp_path / "first", argilla)
    expected = sum(len(task["instances"]) for task in first)
    assert expected > 0
    assert count_records(client, dataset_name, argilla_server.workspace) == expected

    # A second run from scratch regenerates the same tasks (same seed, same replies): their
    # content ids make the records update in place.
    second = run_bootstrap(tmp_path / "second", argilla)
    assert [t["task_id"] for t in second] == [t["task_id"] for t in first]
    assert count_records(client, dataset_name, argilla_server.workspace) == expected


def test_server_down_keeps_the_local_output(tmp_path, monkeypatch, restore_logging) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    argilla = {
        "dataset_name": "never-created",
        "api_url": f"http://127.0.0.1:{unused_port()}",
        "api_key": "argilla.apikey",
        "max_retries": 1,
        "retry_base_delay": 0.1,
    }
    finished = run_bootstrap(tmp_path / "down", argilla)
    assert len(finished) == 5
    assert all(task["instances"] for task in finished)
