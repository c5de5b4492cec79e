"""`BootstrapRun`: the object the loop's steps share, and the error when a step lacks it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import RUN_IDENTITY, BootstrapRun, RunMismatchError
from distilabel_selfinstruct.commit import CommitToPool
from distilabel_selfinstruct.sampling import SampleDemonstrations
from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths

pytestmark = pytest.mark.usefixtures("isolated_env")


def test_seed_lists_accept_the_comma_form() -> None:
    run = BootstrapRun(pool_path="p.sqlite", seeds_path="a.jsonl, b.jsonl")
    assert run.seeds_path == ["a.jsonl", "b.jsonl"]
    assert BootstrapRun(pool_path="p.sqlite").seeds_path is None


def test_settings_are_validated_and_unknown_ones_refused() -> None:
    with pytest.raises(ValidationError):
        BootstrapRun(pool_path="p.sqlite", num_instructions=0)
    with pytest.raises(ValidationError):
        BootstrapRun(pool_path="p.sqlite", pool="other.sqlite")


def test_stop_rule_takes_the_runs_settings() -> None:
    run = BootstrapRun(pool_path="p.sqlite", num_instructions=7, max_rounds=3, in_flight_margin=2)
    rule = run.stop_rule(batch_size=4)
    assert (rule.target, rule.round_limit, rule.in_flight_margin) == (7, 3, 2)
    assert BootstrapRun(pool_path="p", num_instructions=100).stop_rule(4).round_limit == 100


@pytest.mark.parametrize("step_class", [SampleDemonstrations, AdmitToPool, CommitToPool])
def test_a_loop_step_without_the_run_fails_at_load_and_opens_no_pool(
    step_class, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    step = step_class(name="lonely")
    with pytest.raises(ValueError, match=r"step 'lonely' .* needs `run`"):
        step.load()
    assert list(tmp_path.iterdir()) == []


def test_a_pool_remembers_its_seeds_and_refuses_others(tmp_path: Path) -> None:
    seeds = load_seed_tasks(seed_paths(None))
    run = BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=5)
    with run.open_store() as store:
        run.claim(store, seeds)
        run.claim(store, seeds)  # the same run again: fine
        run.model_copy(update={"num_instructions": 50}).claim(store, seeds)  # a larger target
        with pytest.raises(RunMismatchError, match="other seed tasks \\(162 then, 161 now"):
            run.claim(store, seeds[1:])
        with pytest.raises(RunMismatchError, match="rouge_threshold 0.7 \\(now 0.5\\)"):
            run.model_copy(update={"rouge_threshold": 0.5}).claim(store, seeds)
        recorded = json.loads(store.meta(RUN_IDENTITY))
    assert recorded == run.identity(seeds) and recorded["seed_tasks"] == 162


def test_a_sqlite_url_is_its_file_and_a_server_password_is_never_dumped() -> None:
    assert BootstrapRun(pool_path="sqlite:///runs/a/pool.sqlite").pool_path == "runs/a/pool.sqlite"
    run = BootstrapRun(pool_path="postgresql://u:s3cret@db/pool")
    assert run.pool_path == "postgresql://u@db/pool" and run.networked_pool
    assert "s3cret" not in run.model_dump_json()
    assert pickle.loads(pickle.dumps(run))._pool_password == "s3cret"  # to the actors
