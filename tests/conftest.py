"""Shared fixtures for the Self-Instruct unit tests.

- `isolated_env`: points DISTILABEL_CACHE_DIR and HF_HOME at fresh temporary directories, so a
  step used outside a Pipeline can't read or write the user's caches. Test modules opt in with
  `pytestmark = pytest.mark.usefixtures("isolated_env")` (it is not autouse, to leave the
  Argilla tests' environment alone).
- `pool_path`: a path for a new SQLite pool store in the test's temporary directory.
- `postgres_server`: one throwaway PostgreSQL server for the session (`postgres_server.py`);
  skipped where PostgreSQL or psycopg is missing, except in CI (scripts/test installs both).
- `pool_location`: a new pool store's location, once per backend (a SQLite path, then an
  empty PostgreSQL database, with `PGPASSWORD` set as a user would): the pool-store suite.
- The suite runs on two pytest-xdist workers (scripts/test: `-n 2 --dist loadgroup`):
  `pytest_collection_modifyitems` puts each test in a group that one worker runs whole (see
  `xdist_group_of`), the longest groups first.
- `paper_seeds`: the paper's 175 seed tasks at `../shared/data/seed_tasks.jsonl` (relative to
  the repository root); the test is skipped when the file is absent. It is never copied into
  the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.postgres_server import PASSWORD, PostgresServer, unavailable_reason

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_SEEDS = REPO_ROOT.parent / "shared" / "data" / "seed_tasks.jsonl"


def paper_seeds_or_skip() -> Path:
    """The paper's seed file, or a clean skip when this checkout doesn't have it."""
    if not PAPER_SEEDS.is_file():
        pytest.skip(f"paper seed file not found at {PAPER_SEEDS}")
    return PAPER_SEEDS


# Groups whose tests must not run beside one another on two workers; any other module is a
# group of its own (its module-scoped fixtures then run once).
SHARED_GROUPS = {
    # The real model: llama.cpp's threads busy-wait, and llama.cpp's own server is outside
    # the lock that makes in-process models take turns (llms._cpu_turn).
    "real-model": {"test_e2e.py", "test_wheel.py", "test_servers.py", "test_llms.py"},
    # One local Argilla server, which tests/argilla/test_faults.py kills and restarts.
    "argilla": {"argilla"},
    # Local Ray clusters: node ports and worker port ranges on one machine.
    "ray": {"test_ray_cluster.py", "test_cli.py"},
}
# Longest first (from CI's durations), so no long group starts last and runs alone.
LONGEST_FIRST = ["real-model", "ray", "test_faults.py", "argilla"]


def xdist_group_of(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT / "tests")
    for group, members in SHARED_GROUPS.items():
        if relative.name in members or relative.parts[0] in members:
            return group
    return str(relative)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item.nodeid: xdist_group_of(Path(item.path)) for item in items}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    rank = {group: n for n, group in enumerate(LONGEST_FIRST)}
    # Stable: within a group, and among the other modules, the collection order stays.
    items.sort(key=lambda item: rank.get(groups[item.nodeid], len(rank)))


@pytest.fixture
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("DISTILABEL_CACHE_DIR", str(root / "distilabel"))
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    return root


@pytest.fixture
def pool_path(tmp_path: Path) -> Path:
    return tmp_path / "pool.sqlite"


@pytest.fixture(scope="session")
def postgres_server():
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the PostgreSQL pool store: {reason}")
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def pool_location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "pool.sqlite")
    server = request.getfixturevalue("postgres_server")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    return server.new_database()


@pytest.fixture
def paper_seeds() -> Path:
    return paper_seeds_or_skip()
