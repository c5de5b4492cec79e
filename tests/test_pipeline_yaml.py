"""`explain_pipeline_yaml`: `None` for a YAML distilabel loads, else one line that names the
file and the first problem (syntax error line, missing key, class that does not import, bad
`run`), including for a file cut short anywhere."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from distilabel_selfinstruct.pipeline import build_pipeline
from distilabel_selfinstruct.pipeline_yaml import explain_pipeline_yaml
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.fixture(scope="module")
def good_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    path = root / "pipeline.yaml"
    with pytest.MonkeyPatch.context() as monkeypatch:  # `isolated_env`, for the module
        monkeypatch.setenv("DISTILABEL_CACHE_DIR", str(root / "distilabel"))
        monkeypatch.setenv("HF_HOME", str(root / "hf"))
        pipeline = build_pipeline(
            llm=ScriptedLLM(),
            output_dir=root / "run",
            num_instructions=3,
            prompt_style="completion",
        )
        pipeline.save(str(path), format="yaml")
    return path


@pytest.fixture(scope="module")
def good_data(good_yaml: Path) -> dict[str, Any]:
    return yaml.safe_load(good_yaml.read_text(encoding="utf-8"))


def step_index(data: dict[str, Any], name: str) -> int:
    names = [entry["name"] for entry in data["pipeline"]["steps"]]
    return names.index(name)


def explain_edited(
    good_data: dict[str, Any], tmp_path: Path, edit: Callable[[dict[str, Any]], None]
) -> tuple[Path, str | None]:
    """Writes the good pipeline changed by `edit` and explains it."""
    data = copy.deepcopy(good_data)
    edit(data)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, explain_pipeline_yaml(path)


def loads_and_validates(path: Path) -> bool:
    """Whether distilabel loads the file into a pipeline whose DAG it would run."""
    from distilabel.pipeline import Pipeline

    try:
        Pipeline.from_yaml(path).dag.validate()
    except Exception:  # noqa: BLE001 - any failure means it is not usable
        return False
    return True


def test_a_saved_pipeline_is_fine(good_yaml: Path) -> None:
    assert explain_pipeline_yaml(good_yaml) is None
    assert explain_pipeline_yaml(str(good_yaml)) is None


def test_the_saved_pipeline_rewritten_unchanged_is_fine(
    good_data: dict[str, Any], tmp_path: Path
) -> None:
    # The control for the edited files below: rewriting alone breaks nothing.
    assert explain_edited(good_data, tmp_path, lambda data: None)[1] is None


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert explain_pipeline_yaml(path) == f"{path}: no such file"


def test_a_directory(tmp_path: Path) -> None:
    assert explain_pipeline_yaml(tmp_path) == f"{tmp_path}: is a directory, not a pipeline YAML"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00pipeline")
    problem = explain_pipeline_yaml(path)
    assert problem is not None and problem.startswith(f"{path}: cannot be read (")
    assert "utf-8" in problem


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tab.yaml"
    path.write_text("pipeline:\n  name: x\n\tsteps: []\n", encoding="utf-8")
    assert explain_pipeline_yaml(path) == (
        f"{path}:3: not valid YAML (found character '\\t' that cannot start any token)"
    )


def test_invalid_yaml_inside_a_saved_pipeline_names_its_line(
    good_yaml: Path, tmp_path: Path
) -> None:
    lines = good_yaml.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[9] = "    bad: : x\n"  # line 10
    path = tmp_path / "broken.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    assert explain_pipeline_yaml(path) == (
        f"{path}:10: not valid YAML (mapping values are not allowed here)"
    )


@pytest.mark.parametrize(
    "text",
    ["", "- a\n- b\n", "just text\n", "distilabel:\n  version: 1.5.3\n", "pipeline: [1, 2]\n"],
    ids=["empty", "list", "scalar", "no-pipeline", "pipeline-not-mapping"],
)
def test_not_a_pipeline_mapping(text: str, tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(text, encoding="utf-8")
    assert explain_pipeline_yaml(path) == (
        f"{path}: not a distilabel pipeline (no top-level `pipeline` mapping)"
    )


@pytest.mark.parametrize("key", ["name", "steps", "connections"])
def test_a_missing_pipeline_key_is_named(
    key: str, good_data: dict[str, Any], tmp_path: Path
) -> None:
    path, problem = explain_edited(good_data, tmp_path, lambda data: data["pipeline"].pop(key))
    assert problem == f"{path}: `pipeline.{key}` is missing (the file may be cut short)"


@pytest.mark.parametrize("steps", [[], None], ids=["empty-list", "null"])
def test_empty_steps(steps: Any, good_data: dict[str, Any], tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["steps"] = steps

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == f"{path}: `pipeline.steps` is empty"


def test_a_step_entry_that_is_not_a_mapping(good_data: dict[str, Any], tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["steps"][1] = "generate_instructions"

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == f"{path}: pipeline.steps[1]: expected a mapping with `name` and `step`"


def test_a_step_without_type_info(good_data: dict[str, Any], tmp_path: Path) -> None:
    index = step_index(good_data, "split_instructions")

    def edit(data: dict[str, Any]) -> None:
        del data["pipeline"]["steps"][index]["step"]["type_info"]

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == (
        f"{path}: pipeline.steps[{index}] ('split_instructions'): missing `type_info`"
        " (the file may be cut short)"
    )


def test_a_step_whose_module_does_not_import(good_data: dict[str, Any], tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["steps"][0]["step"]["type_info"]["module"] = "no_such_package.sampling"

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == (
        f"{path}: pipeline.steps[0] ('sample_demonstrations'): module no_such_package.sampling"
        " does not import (ModuleNotFoundError: No module named 'no_such_package');"
        " is the package that provides it installed here?"
    )


def test_a_class_missing_from_its_module(good_data: dict[str, Any], tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["steps"][0]["step"]["type_info"]["name"] = "SampleDemonstrationsV9"

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == (
        f"{path}: pipeline.steps[0] ('sample_demonstrations'): distilabel_selfinstruct.sampling"
        " has no class SampleDemonstrationsV9 (written by another version?)"
    )


@pytest.mark.parametrize(
    ("type_info", "expected"),
    [
        (None, "missing `type_info`"),
        ({"module": "distilabel_selfinstruct.testing"}, "`type_info` needs `module` and `name`"),
        ("ScriptedLLM", "`type_info` needs `module` and `name`"),
        (
            {"module": "distilabel_selfinstruct.testing", "name": "NoSuchLLM"},
            "distilabel_selfinstruct.testing has no class NoSuchLLM (written by another version?)",
        ),
        (
            {"module": "no_such_llms", "name": "ScriptedLLM"},
            "module no_such_llms does not import (ModuleNotFoundError: No module named"
            " 'no_such_llms'); is the package that provides it installed here?",
        ),
    ],
    ids=["absent", "no-name", "not-mapping", "no-class", "no-module"],
)
def test_a_bad_llm_type_info_is_named_on_its_step(
    type_info: Any, expected: str, good_data: dict[str, Any], tmp_path: Path
) -> None:
    index = step_index(good_data, "generate_instructions")

    def edit(data: dict[str, Any]) -> None:
        llm = data["pipeline"]["steps"][index]["step"]["llm"]
        if type_info is None:
            del llm["type_info"]
        else:
            llm["type_info"] = type_info

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == f"{path}: pipeline.steps[{index}] ('generate_instructions').llm: {expected}"


def test_a_run_that_bootstraprun_rejects_names_the_field(
    good_data: dict[str, Any], tmp_path: Path
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["steps"][0]["step"]["run"]["num_instructions"] = 0

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == (
        f"{path}: pipeline.steps[0] ('sample_demonstrations').run.num_instructions:"
        " Input should be greater than 0"
    )


def test_an_unknown_run_setting_is_named(good_data: dict[str, Any], tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["steps"][0]["step"]["run"]["pool"] = "other.sqlite"

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem == (
        f"{path}: pipeline.steps[0] ('sample_demonstrations').run.pool:"
        " Extra inputs are not permitted"
    )


def test_what_distilabel_itself_refuses_is_one_line(
    good_data: dict[str, Any], tmp_path: Path
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["pipeline"]["connections"][0]["to"] = ["no_such_step"]

    path, problem = explain_edited(good_data, tmp_path, edit)
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"{path}: distilabel cannot load it (ValueError: ")
    assert "no_such_step" in problem


@pytest.mark.parametrize("tenth", range(1, 11))
def test_a_file_cut_short_is_explained_in_one_line(
    tenth: int, good_yaml: Path, tmp_path: Path
) -> None:
    text = good_yaml.read_text(encoding="utf-8")
    cut = tmp_path / "cut.yaml"
    cut.write_text(text[: len(text) * tenth // 11], encoding="utf-8")
    problem = explain_pipeline_yaml(cut)
    if problem is None:
        assert loads_and_validates(cut), "None for a cut file distilabel cannot run"
        return
    assert "\n" not in problem
    assert re.match(rf"{re.escape(str(cut))}(:\d+)?: ", problem), problem
    assert "cut short" in problem or "not valid YAML" in problem, problem


def test_a_file_cut_between_two_connections_is_not_fine(good_yaml: Path, tmp_path: Path) -> None:
    text = good_yaml.read_text(encoding="utf-8")
    cut = tmp_path / "cut.yaml"
    cut.write_text(text[: text.index("  - from: generate_instructions\n")], encoding="utf-8")
    assert not loads_and_validates(cut)  # distilabel refuses to run it...
    problem = explain_pipeline_yaml(cut)  # ...so the check must not call it fine
    assert problem is not None and problem.startswith(f"{cut}: ")
