"""What only the PostgreSQL pool store has: a server that may be down or refuse the
password, credentials that never show, a database that is not a pool. (The pool-store
suite itself runs on both backends: tests/test_pool.py.)"""

from __future__ import annotations

import pytest

from distilabel_selfinstruct.pool import PoolDamagedError, PoolUnavailableError, open_pool_store
from tests.postgres_server import PASSWORD, PostgresServer
from tests.test_pool import race


def test_the_password_comes_from_the_url_or_the_environment_and_never_shows(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = postgres_server.new_database()
    secret = url.replace("selfinstruct@", f"selfinstruct:{PASSWORD}@")
    with open_pool_store(secret) as store:
        assert store.location == url
        store.increment("n")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_pool_store(url) as store:
        assert store.counters() == {"n": 1}


def test_a_wrong_password_is_one_line_without_the_password(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = postgres_server.new_database()
    wrong = url.replace("selfinstruct@", "selfinstruct:not-the-password@")
    with pytest.raises(PoolUnavailableError) as raised:
        open_pool_store(wrong)
    message = str(raised.value)
    assert message.startswith(f"{url}: cannot connect to the pool store (")
    assert "not-the-password" not in message and "\n" not in message


def test_a_server_that_is_down_is_unavailable_not_damaged() -> None:
    with PostgresServer() as server:
        url = server.url("postgres")
    with pytest.raises(PoolUnavailableError, match="cannot connect to the pool store"):
        open_pool_store(url, password=PASSWORD)


def terminate_other_sessions(store) -> None:
    """Ends every pool session on the server but the one of `store`."""
    store._connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'distilabel-selfinstruct' AND pid <> pg_backend_pid()"
    )


def test_a_server_lost_mid_run_is_one_line_and_the_data_survives_a_restart(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    url = postgres_server.new_database()
    with open_pool_store(url) as store:
        store.increment("n")
        # The server ends this session (as a restart or a failover would).
        terminate_other_sessions(store)
        with open_pool_store(url) as other:
            terminate_other_sessions(other)
        with pytest.raises(PoolUnavailableError, match=f"^{url}: the pool store failed"):
            store.increment("n")
    with open_pool_store(url) as again:
        assert again.counters() == {"n": 1}


def test_a_database_without_the_tables_is_not_a_pool(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    url = postgres_server.new_database()
    with pytest.raises(PoolDamagedError, match="not a task pool"):
        open_pool_store(url, create=False)
    with open_pool_store(url) as store:
        assert store.integrity_problems() == []
    with open_pool_store(url, create=False) as store:
        assert store.count() == 0


def test_writers_see_each_others_commits_whatever_the_servers_default_isolation(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Managed servers often default to REPEATABLE READ: a writer's snapshot would then be
    # taken before it waits for the lock, and the cap would be checked on stale counts.
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    url = postgres_server.new_database()
    with open_pool_store(url) as store:
        name = url.rsplit("/", 1)[1]
        store._connection.execute(
            f"ALTER DATABASE {name} SET default_transaction_isolation = 'repeatable read'"
        )
    race(url)


def test_nul_characters_are_dropped_not_a_crash(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_pool_store(postgres_server.new_database()) as store:
        store.record_drops([{"candidate_id": "c1", "stage": "x", "reason": "y", "text": "a\x00b"}])
        assert store.drops()[0]["text"] == "ab"
