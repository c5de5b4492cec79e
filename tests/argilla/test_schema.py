"""Review dataset settings, checked without a server."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from distilabel_selfinstruct.argilla import schema as s


@pytest.fixture
def offline_client() -> SimpleNamespace:
    """Just enough of `rg.Argilla` for settings objects: they only bind `client.api.*`."""
    api = SimpleNamespace(fields=None, questions=None, metadata=None, vectors=None)
    return SimpleNamespace(api=api)


def test_modules_import_argilla_only_inside_functions() -> None:
    """`import argilla` reads the environment and SDK objects built without a
    client create (and connect) a default one: our modules defer both."""
    package = Path(s.__file__).parent
    for path in sorted(package.glob("*.py")):
        if path.name == "step.py":  # subclasses distilabel's ArgillaBase, which imports it
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks are skipped
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "argilla" or n.startswith("argilla.") for n in names), path.name


def test_import_creates_no_client() -> None:
    code = (
        "import sys\n"
        "from distilabel_selfinstruct.argilla import cli, push, records, review, schema, step\n"
        "rg = sys.modules.get('argilla')\n"
        "assert rg is None or rg.Argilla._default_client is None, 'a client was created'\n"
    )
    env = {**os.environ, "ARGILLA_API_URL": "http://127.0.0.1:1", "ARGILLA_API_KEY": "k"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_fields(offline_client: SimpleNamespace) -> None:
    settings = s.build_settings(offline_client, models=["m1"])
    fields = {f.name: f for f in settings.fields}
    assert list(fields) == [
        s.FIELD_INSTRUCTION,
        s.FIELD_INPUT,
        s.FIELD_OUTPUT,
        s.FIELD_LABELS,
        s.FIELD_SIMILAR,
        s.FIELD_JUDGE_RATIONALE,
    ]
    assert not fields[s.FIELD_JUDGE_RATIONALE].required
    assert fields[s.FIELD_INSTRUCTION].required and fields[s.FIELD_OUTPUT].required
    assert not fields[s.FIELD_INPUT].required
    assert not fields[s.FIELD_LABELS].required and not fields[s.FIELD_SIMILAR].required


def test_questions(offline_client: SimpleNamespace) -> None:
    settings = s.build_settings(offline_client)
    questions = {q.name: q for q in settings.questions}
    assert questions[s.Q_INSTRUCTION_VALID].labels == ["yes", "no"]
    assert questions[s.Q_INPUT_APPROPRIATE].labels == ["yes", "no", "not_applicable"]
    assert questions[s.Q_OUTPUT_ACCEPTABLE].labels == ["yes", "no"]
    assert questions[s.Q_LABEL_CORRECT].labels == ["yes", "no", "not_applicable"]
    assert questions[s.Q_IS_CLASSIFICATION].labels == ["yes", "no"]
    assert questions[s.Q_QUALITY_RATING].labels == ["A", "B", "C", "D"]  # the paper's scale
    required = {name for name, q in questions.items() if q.required}
    assert required == {s.Q_INSTRUCTION_VALID, s.Q_INPUT_APPROPRIATE, s.Q_OUTPUT_ACCEPTABLE}
    assert type(questions[s.Q_OUTPUT_CORRECTED]).__name__ == "TextQuestion"


def test_metadata(offline_client: SimpleNamespace) -> None:
    settings = s.build_settings(offline_client)
    meta = {m.name: m for m in settings.metadata}
    types = {name: type(m).__name__.replace("MetadataProperty", "") for name, m in meta.items()}
    assert types == {
        s.M_TASK_ID: "Terms",
        s.M_INSTANCE_INDEX: "Integer",
        s.M_IS_CLASSIFICATION: "Terms",
        s.M_CLASSIFICATION_SCORE: "Float",
        s.M_ROUGE_L_MAX: "Float",
        s.M_MOST_SIMILAR_TASK_ID: "Terms",
        s.M_BOOTSTRAP_ROUND: "Integer",
        s.M_MODEL: "Terms",
        s.M_INSTRUCTION_WORDS: "Integer",
        s.M_INPUT_WORDS: "Integer",
        s.M_OUTPUT_WORDS: "Integer",
        s.M_JUDGE_RATING: "Terms",
    }
    assert meta[s.M_JUDGE_RATING].options == ["A", "B", "C", "D"]
    assert meta[s.M_MODEL].options is None  # open: 2.8 cannot add options later
    closed = s.build_settings(offline_client, models=["b", "a", ""])
    assert closed.metadata[s.M_MODEL].options == ["a", "b", s.UNKNOWN_MODEL]
    assert meta[s.M_IS_CLASSIFICATION].options == ["true", "false"]
    assert meta[s.M_TASK_ID].options is None  # open terms
    assert (meta[s.M_ROUGE_L_MAX].min, meta[s.M_ROUGE_L_MAX].max) == (0.0, 1.0)
    assert not settings.allow_extra_metadata


def test_settings_validate_and_serialize(offline_client: SimpleNamespace) -> None:
    settings = s.build_settings(offline_client, min_submitted=2)
    settings.validate()
    dumped = settings.serialize()
    assert dumped["distribution"]["min_submitted"] == 2
    for question in settings.questions:
        assert f"`{question.name}`" in dumped["guidelines"]


def test_missing_schema_parts() -> None:
    assert (
        s.missing_schema_parts(s.REQUIRED_FIELDS, s.REQUIRED_QUESTIONS, s.REQUIRED_METADATA) == []
    )
    assert s.missing_schema_parts(["instruction"], [], []) == [
        s.FIELD_INPUT,
        s.FIELD_OUTPUT,
        *s.REQUIRED_QUESTIONS,
        *s.REQUIRED_METADATA,
    ]
