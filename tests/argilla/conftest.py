"""Fixtures for the tests that talk to a real local Argilla server.

The server is the one of the argilla-local launcher
(`distilabel_selfinstruct.argilla.local_server`, also `scripts/argilla-local`). When
ARGILLA_API_URL / ARGILLA_API_KEY are unset or do not answer, the fixture runs its plain
`up` (outside CI) and reads the launcher's settings for the URL and key. The server is left
running afterwards (`scripts/argilla-local down` stops it).

The fixture never installs anything: plain `up` fails with one line when Redis, Java, the
server venv or OpenSearch are missing, and that line (naming `scripts/argilla-local
install`) is the test failure. `scripts/test` is what installs (`up --install`).

These tests skip ONLY when SELFINSTRUCT_SKIP_ARGILLA=1. Otherwise a missing
server is a failure, in CI (CI=true, where .ci/run starts the server) and
locally alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = "distilabel_selfinstruct.argilla.local_server"
# Plain `up`, never `up --install`: a test run must not install Java or OpenSearch.
UP_COMMAND = (sys.executable, "-m", LAUNCHER, "up")
DEFAULT_URL = "http://127.0.0.1:6900"
DEFAULT_KEY = "argilla.apikey"
DEFAULT_WORKSPACE = "argilla"


@dataclass(frozen=True)
class ArgillaServer:
    api_url: str
    api_key: str
    workspace: str


def _answers(url: str, key: str) -> bool:
    import httpx

    try:
        reply = httpx.get(f"{url}/api/v1/me", headers={"X-Argilla-Api-Key": key}, timeout=5)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200


def _launcher_url_and_key() -> tuple[str, str]:
    """The URL and key `up` set up: what `scripts/argilla-local env` prints."""
    from distilabel_selfinstruct.argilla.local_server.config import Settings

    settings = Settings.from_environment(os.environ)
    return settings.url, settings.api_key


@pytest.fixture(scope="session")
def argilla_server() -> ArgillaServer:
    if os.getenv("SELFINSTRUCT_SKIP_ARGILLA") == "1":
        pytest.skip("SELFINSTRUCT_SKIP_ARGILLA=1")
    url = os.getenv("ARGILLA_API_URL") or DEFAULT_URL
    key = os.getenv("ARGILLA_API_KEY") or DEFAULT_KEY
    workspace = os.getenv("ARGILLA_WORKSPACE") or DEFAULT_WORKSPACE
    if _answers(url, key):
        return ArgillaServer(url, key, workspace)
    in_ci = os.getenv("CI", "").lower() in {"1", "true", "yes"}
    if in_ci:
        pytest.fail(f"Argilla is not answering at {url} (in CI, .ci/run must start it)")
    # Messages then name the script a developer would type.
    environment = {**os.environ, "ARGILLA_LOCAL_PROG": "scripts/argilla-local"}
    up = subprocess.run(UP_COMMAND, capture_output=True, text=True, cwd=REPO, env=environment)
    if up.returncode != 0:
        tail = (up.stderr or up.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.fail(f"scripts/argilla-local up failed: {tail[0]}")
    url, key = _launcher_url_and_key()
    if not _answers(url, key):
        pytest.fail(f"Argilla still not answering at {url} after scripts/argilla-local up")
    return ArgillaServer(url, key, workspace)


@pytest.fixture(scope="session")
def client(argilla_server: ArgillaServer):
    from distilabel_selfinstruct.argilla.push import connect

    return connect(argilla_server.api_url, argilla_server.api_key)


@pytest.fixture
def dataset_name(client, argilla_server: ArgillaServer) -> Iterator[str]:
    """A fresh dataset name, deleted after the test."""
    name = f"si-test-{uuid.uuid4().hex[:12]}"
    yield name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = client.datasets(name=name, workspace=argilla_server.workspace)
    if dataset is not None:
        dataset.delete()


@pytest.fixture
def annotator(client, argilla_server: ArgillaServer):
    """A second reviewer: an annotator user in the test workspace, deleted after the test."""
    import argilla as rg

    user = rg.User(
        username=f"si-annotator-{uuid.uuid4().hex[:8]}",
        password=uuid.uuid4().hex,
        role="annotator",
        client=client,
    ).create()
    user.add_to_workspace(client.workspaces(argilla_server.workspace))
    yield user
    user.delete()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """distilabel's Pipeline.run swaps the root logger's handlers for a queue it
    closes at the end; later log calls in this process would then fail."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
