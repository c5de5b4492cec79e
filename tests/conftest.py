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
- The suite runs on two pytest-xdist workers (scripts/test: `-n 2`): each test belongs to a
  group that one worker runs whole (`xdist_group_of`, the scope of our xdist scheduler), the
  longest groups first (`pytest_collection_modifyitems`); a module on the real model runs on
  one core of its own (`one_core_for_the_real_model`).
- `paper_seeds`: the paper's 175 seed tasks at `../shared/data/seed_tasks.jsonl` (relative to
  the repository root); the test is skipped when the file is absent. It is never copied into
  the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

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
    "real-model": {"test_e2e.py", "test_servers.py", "test_llms.py"},
    # The wheel's runs on the real model, on a teammate's machine (the longest group).
    "wheel": {"test_wheel.py"},
    # One local Argilla server, which tests/argilla/test_faults.py kills and restarts.
    "argilla": {"argilla"},
    # Local Ray clusters: node ports and worker port ranges on one machine.
    "ray": {"test_ray_cluster.py", "test_cli.py"},
}
# Longest first (from CI's durations), so no long group starts last and runs alone.
LONGEST_FIRST = ["wheel", "real-model", "ray", "test_faults.py", "argilla"]
# The groups that run the real model in-process or on llama.cpp's server.
ON_ONE_CORE = {"wheel", "real-model"}


def xdist_group_of(path: Path) -> str:
    """The group a test module's tests run in, on one worker and one after another."""
    relative = path.relative_to(REPO_ROOT / "tests")
    for group, members in SHARED_GROUPS.items():
        if relative.name in members or relative.parts[0] in members:
            return group
    return str(relative)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {group: n for n, group in enumerate(LONGEST_FIRST)}
    # Stable: within a group, and among the other modules, the collection order stays.
    items.sort(key=lambda item: rank.get(xdist_group_of(Path(item.path)), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scheduling by scope, with `xdist_group_of` as the scope. (Not `--dist
    loadgroup`: xdist 3.8 marks a group by rewriting `item._nodeid`, which pytest 9.2 no longer
    reads, so every test went its own way.)"""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(REPO_ROOT / nodeid.split("::")[0])

    return GroupScheduling(config, log)


@pytest.fixture(scope="module", autouse=True)
def one_core_for_the_real_model(request: pytest.FixtureRequest) -> Iterator[None]:
    """On an xdist worker, a module on the real model (and every process it starts) runs on
    one core of its own, the worker's. llama.cpp's threads busy-wait on each other: on both
    cores beside another worker's tests, a 6-task run took over 15 min (414 s for 10
    alone). On one core it runs one thread (`usable_cpus` reads the affinity), 1.5x slower
    per call, and the two workers' real-model groups do not compete for a core."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if not worker or len(before) < 2 or xdist_group_of(request.path) not in ON_ONE_CORE:
        yield
        return
    cpus = sorted(before)
    os.sched_setaffinity(0, {cpus[int(worker.removeprefix("gw")) % len(cpus)]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


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
