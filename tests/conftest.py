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
  longest groups first (`pytest_collection_modifyitems`); each worker runs on a core of its
  own (`pytest_configure`), except the Ray modules (`both_cores_for_ray`).
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
    # (One group: in-process models on two workers would take turns on that lock anyway,
    # and a run's end then outlasted its test's timeout.)
    "real-model": {"test_e2e.py", "test_wheel.py", "test_servers.py", "test_llms.py"},
    # One local Argilla server, which tests/argilla/test_faults.py kills and restarts.
    "argilla": {"argilla"},
    # Local Ray clusters: node ports and worker port ranges on one machine.
    "ray": {"test_ray_cluster.py", "test_cli.py"},
}
# Longest first (from CI's durations), so no long group starts last and runs alone.
LONGEST_FIRST = ["real-model", "ray", "test_faults.py", "argilla"]


def xdist_group_of(path: Path) -> str:
    """The group a test module's tests run in, on one worker and one after another."""
    relative = path.relative_to(REPO_ROOT / "tests")
    for group, members in SHARED_GROUPS.items():
        if relative.name in members or relative.parts[0] in members:
            return group
    return str(relative)


# The cores this process could use before a worker was pinned.
ALL_CPUS: set[int] = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()


def pytest_configure(config: pytest.Config) -> None:
    """On xdist workers, each worker (and every process it starts) gets its own cores.
    llama.cpp's threads busy-wait on each other: with both cores, a run on the real model
    beside another worker's tests took over three times as long (a 6-task run past 15 min,
    against 414 s for 10 alone). Pinned, it runs on one thread (`usable_cpus` reads the
    affinity), 1.5x slower per call, and nothing else competes for its core. The Ray
    modules get both cores back (`both_cores_for_ray`)."""
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER"),
        os.environ.get("PYTEST_XDIST_WORKER_COUNT"),
    )
    if not worker or not count or not hasattr(os, "sched_setaffinity"):
        return
    cpus, workers = sorted(os.sched_getaffinity(0)), int(count)
    if workers > 1 and len(cpus) >= workers:
        os.sched_setaffinity(0, cpus[int(worker.removeprefix("gw")) :: workers])


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
def both_cores_for_ray(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module of the "ray" group (and the cluster it starts) runs on every core: on one,
    the lost-node run finished its target before the node was killed."""
    if xdist_group_of(request.path) != "ray" or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CPUS or before)
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
