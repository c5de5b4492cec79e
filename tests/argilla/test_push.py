"""Push helpers that need no server: retries, error translation, credentials."""

from __future__ import annotations

import httpx
import pytest

from distilabel_selfinstruct.argilla import push
from distilabel_selfinstruct.argilla.push import (
    ReviewServerError,
    connect,
    one_line,
    resolve_key,
    server_errors,
    with_retries,
)


def test_one_line_collapses_and_truncates() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert len(one_line("x" * 1000)) == 400
    assert "\n" not in str(ReviewServerError("line one\nline two"))


def test_retries_transient_errors_with_exponential_backoff() -> None:
    delays: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise ReviewServerError("down", transient=True)
        return "ok"

    assert with_retries(flaky, max_retries=3, base_delay=0.5, sleep=delays.append) == "ok"
    assert delays == [0.5, 1.0, 2.0]


def test_gives_up_after_max_retries() -> None:
    delays: list[float] = []

    def down() -> None:
        raise ReviewServerError("down", transient=True)

    with pytest.raises(ReviewServerError, match="down"):
        with_retries(down, max_retries=2, base_delay=1.0, max_delay=1.5, sleep=delays.append)
    assert delays == [1.0, 1.5]


def test_does_not_retry_permanent_errors() -> None:
    delays: list[float] = []

    def bad_key() -> None:
        raise ReviewServerError("rejected the API key")

    with pytest.raises(ReviewServerError):
        with_retries(bad_key, max_retries=5, sleep=delays.append)
    assert delays == []


def test_connection_errors_become_one_transient_line() -> None:
    with pytest.raises(ReviewServerError) as info, server_errors("http://h:1", "sending records"):
        raise httpx.ConnectError("[Errno 111] Connection\nrefused")
    assert info.value.transient
    assert str(info.value).startswith("cannot reach Argilla at http://h:1 while sending records")
    assert "\n" not in str(info.value)


def test_unauthorized_is_permanent() -> None:
    from argilla._exceptions import UnauthorizedError

    with pytest.raises(ReviewServerError) as info, server_errors("http://h:1", "logging in"):
        raise UnauthorizedError("Unauthorized")
    assert not info.value.transient
    assert "rejected the API key" in str(info.value)


def test_server_errors_are_transient() -> None:
    from argilla._exceptions import InternalServerError

    with pytest.raises(ReviewServerError) as info, server_errors("http://h:1", "x"):
        raise InternalServerError("boom", status_code=503)
    assert info.value.transient


def test_missing_key_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(push.API_KEY_ENV, raising=False)
    with pytest.raises(ReviewServerError, match="no Argilla API key"):
        connect("http://127.0.0.1:1", None)


def test_resolve_key_accepts_secret_str(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    monkeypatch.setenv(push.API_KEY_ENV, "from-env")
    assert resolve_key(SecretStr("s3cret")) == "s3cret"
    assert resolve_key(None) == "from-env"
    assert resolve_key("") == "from-env"
