"""Importing the plugin changes nothing it is not asked to: after every module of the package
is imported, distilabel's classes, the logging and warnings setup and the environment are as
they were, and a plain distilabel pipeline (none of our steps) runs as distilabel's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: the test process has imported the package long before.
CHILD = textwrap.dedent(
    """
    import importlib, json, logging, os, pkgutil, sys, warnings

    import distilabel_selfinstruct

    # Every module of the package, each imported alone in a first pass to learn which
    # distilabel modules they pull in; optional extras may be missing (ray, argilla).
    ours = [
        info.name
        for info in pkgutil.walk_packages(distilabel_selfinstruct.__path__, "distilabel_selfinstruct.")
        if ".resources" not in info.name
    ]
    theirs = sorted(
        name for name in sys.modules if name.split(".")[0] in ("distilabel", "pydantic", "httpx")
    )

    def snapshot():
        state = {}
        for name, module in list(sys.modules.items()):
            if module is None or name.split(".")[0] not in ("distilabel", "pydantic", "httpx"):
                continue
            for attribute, value in list(vars(module).items()):
                if isinstance(value, type) and value.__module__ == name:
                    state[f"{name}.{attribute}"] = {
                        key: id(member) for key, member in vars(value).items()
                    }
        state["__logging__"] = {
            name: (logger.level, len(logger.handlers), [id(f) for f in logger.filters])
            for name, logger in logging.root.manager.loggerDict.items()
            if isinstance(logger, logging.Logger)
        }
        state["__root_logging__"] = [logging.root.level, len(logging.root.handlers)]
        state["__warnings__"] = [repr(entry) for entry in warnings.filters]
        state["__environ__"] = dict(os.environ)
        return state

    # distilabel's modules that ours use, loaded first, as a user's session would have them.
    import distilabel.pipeline, distilabel.steps, distilabel.steps.tasks, distilabel.models
    import distilabel.pipeline.batch_manager, distilabel.pipeline.local
    before = snapshot()
    imported, missing = [], []
    for name in ours:
        try:
            importlib.import_module(name)
            imported.append(name)
        except ImportError as error:  # an optional extra that is not installed
            missing.append(f"{name}: {error}")
    after = snapshot()
    changed = sorted(
        key
        for key in before
        if key != "__logging__" and key in after and before[key] != after[key]
    )
    # Loggers that existed before the import keep their level, handlers and filters.
    changed += sorted(
        f"logger {name}"
        for name, setup in before["__logging__"].items()
        if after["__logging__"].get(name) != setup
    )
    new_loggers = sorted(set(after["__logging__"]) - set(before["__logging__"]))
    print(json.dumps({"imported": imported, "missing": missing, "changed": changed,
                      "new_loggers": new_loggers}))
    """
)

PLAIN_PIPELINE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts, Step, StepInput

    import distilabel_selfinstruct
    for info in pkgutil.walk_packages(distilabel_selfinstruct.__path__, "distilabel_selfinstruct."):
        if ".resources" not in info.name:
            try:
                importlib.import_module(info.name)
            except ImportError:
                pass

    class Double(Step):
        @property
        def inputs(self):
            return ["n"]

        @property
        def outputs(self):
            return ["twice"]

        def process(self, inputs: StepInput):
            yield [{**row, "twice": 2 * row["n"]} for row in inputs]

    with Pipeline(name="plain") as pipeline:
        LoadDataFromDicts(data=[{"n": n} for n in range(5)], batch_size=2) >> Double()
    distiset = pipeline.run(use_cache=False)
    print(json.dumps({
        "pipeline": f"{type(pipeline).__module__}.{type(pipeline).__qualname__}",
        "twice": sorted(distiset["default"]["train"]["twice"]),
    }))
    """
)


def run_child(code: str, tmp_path: Path) -> dict:
    env = {**os.environ, "DISTILABEL_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
def test_importing_every_module_leaves_distilabel_and_the_process_as_they_were(
    tmp_path: Path,
) -> None:
    report = run_child(CHILD, tmp_path)
    # The core of the package imports everywhere the tests run (the extras are installed).
    assert "distilabel_selfinstruct.pipeline" in report["imported"], report["missing"]
    assert "distilabel_selfinstruct.loop_pipeline" in report["imported"]
    assert report["changed"] == [], report["changed"]
    # Loggers of our own are fine; none of distilabel's or the libraries' is reconfigured.
    assert not [name for name in report["new_loggers"] if name.startswith("distilabel.")]


@pytest.mark.timeout(300)
def test_a_plain_pipeline_stays_distilabel_s_own_beside_the_package(tmp_path: Path) -> None:
    report = run_child(PLAIN_PIPELINE, tmp_path)
    assert report["pipeline"] == "distilabel.pipeline.local.Pipeline"
    assert report["twice"] == [0, 2, 4, 6, 8]


def test_the_package_root_imports_without_distilabel(tmp_path: Path) -> None:
    # The local Argilla launcher needs only the standard library: the package root must not
    # import distilabel (a Python without it, as a checkout without the venv has).
    blocker = tmp_path / "distilabel"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('distilabel is not installed')\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import distilabel_selfinstruct, distilabel_selfinstruct.argilla.local_server.cli",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
