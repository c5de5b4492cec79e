"""LlamaCppCompletionLLM: the embedded gemma-3-270m (prepared safely on a fresh machine),
the model identity that a saved pipeline carries, and real calls (seconds, no network)."""

from __future__ import annotations

import math
import multiprocessing
import os
import tempfile
from pathlib import Path

import pytest

from distilabel_selfinstruct.llms import (
    LlamaCppCompletionLLM,
    ModelNotFoundError,
    bundled_model_identity,
    check_pipeline_models,
    default_model_path,
    usable_cpus,
)

BUNDLED_FILE, BUNDLED_SHA = bundled_model_identity()


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh machine: nothing assembled, nothing hashed."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SELFINSTRUCT_CACHE_DIR", str(cache))
    monkeypatch.delenv("SELFINSTRUCT_GGUF_PATH", raising=False)
    monkeypatch.delenv("SELFINSTRUCT_MODEL_PATH", raising=False)
    return cache


@pytest.fixture(scope="module")
def bundled_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model assembled once for this module, in its own cache."""
    cache = tmp_path_factory.mktemp("bundled")
    previous = os.environ.get("SELFINSTRUCT_CACHE_DIR")
    os.environ["SELFINSTRUCT_CACHE_DIR"] = str(cache)
    try:
        return default_model_path()
    finally:
        if previous is None:
            del os.environ["SELFINSTRUCT_CACHE_DIR"]
        else:
            os.environ["SELFINSTRUCT_CACHE_DIR"] = previous


@pytest.fixture
def other_gguf(tmp_path: Path, bundled_gguf: Path) -> Path:
    """Another model: a file whose sha256 differs from the bundled one."""
    path = tmp_path / "models" / "my-7b.gguf"
    path.parent.mkdir()
    path.write_bytes(bundled_gguf.read_bytes() + b"\0")
    return path


def _assemble_in_child(_: int) -> str:
    return str(default_model_path())


def test_stages_assembling_the_default_model_at_once_on_a_fresh_machine(
    empty_cache: Path,
) -> None:
    # The README's first command once died here: three stages, one `.partial` file.
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        paths = pool.map(_assemble_in_child, range(3))
    assert len(set(paths)) == 1
    path = Path(paths[0])
    assert path.parent == empty_cache and path.name == BUNDLED_FILE
    from distilabel_selfinstruct.files import file_sha256

    assert file_sha256(path, use_cache=False) == BUNDLED_SHA
    assert sorted(p.name for p in empty_cache.iterdir() if p.is_file()) == [
        f".{BUNDLED_FILE}.lock",
        BUNDLED_FILE,
    ]


def test_a_corrupt_default_model_is_replaced(empty_cache: Path) -> None:
    empty_cache.mkdir()
    (empty_cache / BUNDLED_FILE).write_bytes(b"GGUF but cut short")
    path = default_model_path()
    assert path.stat().st_size > 200_000_000


def test_the_dump_names_the_model_and_no_path_of_this_machine(other_gguf: Path) -> None:
    dump = LlamaCppCompletionLLM(model_path=other_gguf).dump()
    assert "model_path" not in dump
    assert dump["model_file"] == "my-7b.gguf"
    assert dump["model_sha256"] not in (None, BUNDLED_SHA)
    assert dump["n_threads"] is None and dump["cpu_lock_path"] is None
    text = repr(dump)
    for local in (str(other_gguf.parent), tempfile.gettempdir(), str(Path.home())):
        assert local not in text


def test_the_default_model_is_recorded_as_the_bundled_one() -> None:
    dump = LlamaCppCompletionLLM().dump()
    assert (dump["model_file"], dump["model_sha256"]) == (BUNDLED_FILE, BUNDLED_SHA)


def test_a_rerun_without_the_recorded_model_stops_with_one_line(
    other_gguf: Path, empty_cache: Path
) -> None:
    restored = LlamaCppCompletionLLM.from_dict(LlamaCppCompletionLLM(model_path=other_gguf).dump())
    other_gguf.unlink()  # the teammate's machine does not have it
    with pytest.raises(ModelNotFoundError) as error:
        restored.resolve_model_path()
    message = str(error.value)
    assert "\n" not in message
    assert "'my-7b.gguf'" in message and "SELFINSTRUCT_MODEL_PATH" in message
    # Never the bundled model in its place.
    assert not (empty_cache / BUNDLED_FILE).exists()


def test_the_recorded_model_is_found_through_the_environment_and_checked(
    other_gguf: Path, bundled_gguf: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    restored = LlamaCppCompletionLLM.from_dict(LlamaCppCompletionLLM(model_path=other_gguf).dump())
    monkeypatch.setenv("SELFINSTRUCT_MODEL_PATH", str(other_gguf.parent))
    assert restored.resolve_model_path() == other_gguf
    impostor = tmp_path / "impostor" / "my-7b.gguf"
    impostor.parent.mkdir()
    impostor.symlink_to(bundled_gguf)  # same name, other content
    monkeypatch.setenv("SELFINSTRUCT_MODEL_PATH", str(impostor))
    with pytest.raises(ModelNotFoundError, match="but .* has sha256"):
        restored.resolve_model_path()


def test_a_runtime_model_path_is_checked_against_the_recorded_model(
    other_gguf: Path, bundled_gguf: Path
) -> None:
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.pipeline import build_pipeline

    pipeline = build_pipeline(
        llm=LlamaCppCompletionLLM(model_path=other_gguf),
        num_instructions=2,
        output_dir=other_gguf.parent.parent / "run",
        name="t-model-check",
    )
    restored = Pipeline.from_dict(pipeline.dump())
    steps = ("generate_instructions", "identify_classification", "generate_instances")
    check_pipeline_models(
        restored, {name: {"llm": {"model_path": str(other_gguf)}} for name in steps}
    )
    with pytest.raises(ModelNotFoundError, match="my-7b.gguf"):
        check_pipeline_models(
            restored, {name: {"llm": {"model_path": str(bundled_gguf)}} for name in steps}
        )
    with pytest.raises(ModelNotFoundError, match="not on this machine"):
        check_pipeline_models(restored)


@pytest.fixture(scope="module")
def llm(bundled_gguf: Path) -> LlamaCppCompletionLLM:
    model = LlamaCppCompletionLLM(model_path=bundled_gguf, cpu_lock=False)
    model.load()
    return model


@pytest.mark.e2e
@pytest.mark.timeout(120)  # loads the real model: ~15 s
def test_plain_prompts_go_to_completion_not_chat(llm: LlamaCppCompletionLLM) -> None:
    (output,) = llm.generate(
        inputs=["1. Name three primary colors.\n2. List two prime numbers.\n3."],
        max_new_tokens=24,
        temperature=0.0,
        stop=["\n"],
    )
    (text,) = output["generations"]
    # The chat fallback of a template-less GGUF answers with llama-2 markup instead.
    assert "[/INST]" not in text and "<<SYS>>" not in text
    assert text.strip()
    assert output["statistics"]["output_tokens"][0] <= 24


@pytest.mark.e2e
@pytest.mark.timeout(120)  # loads the real model: ~15 s
def test_first_token_logprobs_rank_the_obvious_answer(llm: LlamaCppCompletionLLM) -> None:
    prompt = "Question: Is water wet? Answer Yes or No.\nAnswer:"
    (output,) = llm.generate(inputs=[prompt], max_new_tokens=1, temperature=0.0, logprobs=5)
    (alternatives,) = output["logprobs"][0]
    assert len(alternatives) == 5
    probabilities = [math.exp(item["logprob"]) for item in alternatives]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
    # The greedy completion is the top-ranked token.
    assert output["generations"][0].strip() == alternatives[0]["token"].strip()


def test_a_foreign_file_at_the_configured_default_path_is_refused_not_replaced(
    empty_cache: Path, other_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFINSTRUCT_GGUF_PATH", str(other_gguf))
    before = other_gguf.stat().st_size
    with pytest.raises(ModelNotFoundError, match="is not the bundled"):
        default_model_path()
    assert other_gguf.stat().st_size == before


def test_the_bundled_model_is_known_by_its_sha256_whatever_its_file_name(
    bundled_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFINSTRUCT_CACHE_DIR", str(bundled_gguf.parent))
    renamed = tmp_path / "gemma-renamed.gguf"
    renamed.symlink_to(bundled_gguf)
    restored = LlamaCppCompletionLLM.from_dict(LlamaCppCompletionLLM(model_path=renamed).dump())
    assert restored.model_sha256 == BUNDLED_SHA
    assert restored.resolve_model_path() == bundled_gguf


def test_a_model_file_gone_since_construction_does_not_break_the_dump(other_gguf: Path) -> None:
    llm = LlamaCppCompletionLLM(model_path=other_gguf)
    other_gguf.unlink()
    dump = llm.dump()
    assert dump["model_file"] is None and "model_path" not in dump


def test_a_pipeline_built_with_a_model_path_runs_from_its_yaml_with_the_path_handed_over(
    other_gguf: Path, empty_cache: Path
) -> None:
    # What `selfinstruct generate --model-path` does: save the YAML (no path in it), then
    # run the YAML with the path as runtime parameters of each llama.cpp step.
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.llms import model_path_parameters
    from distilabel_selfinstruct.pipeline import build_pipeline
    from distilabel_selfinstruct.runner import parse_parameters

    pipeline = build_pipeline(
        llm=LlamaCppCompletionLLM(model_path=other_gguf),
        num_instructions=2,
        output_dir=other_gguf.parent.parent / "run",
        name="t-model-params",
    )
    parameters = model_path_parameters(pipeline)
    assert sorted(item.split(".")[0] for item in parameters) == [
        "generate_instances",
        "generate_instructions",
        "identify_classification",
    ]
    yaml_path = other_gguf.parent.parent / "pipeline.yaml"
    pipeline.save(yaml_path, format="yaml")
    assert str(other_gguf) not in yaml_path.read_text()
    restored = Pipeline.from_yaml(yaml_path)
    with pytest.raises(ModelNotFoundError):
        check_pipeline_models(restored)
    check_pipeline_models(restored, parse_parameters(parameters))


def test_llama_cpp_threads_follow_the_cpus_the_process_may_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5, 6, 7})
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("200000 100000\n")  # a container limited to 2 cores
    assert usable_cpus(cpu_max) == 2
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == 8
    assert usable_cpus(tmp_path / "absent") == 8
    cpu_max.write_text("50000 100000\n")  # half a core still gets one thread
    assert usable_cpus(cpu_max) == 1
