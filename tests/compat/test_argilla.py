"""The argilla SDK's exception classes, checked against what the real SDK raises (its HTTP
client on a mock transport: no server)."""

from __future__ import annotations

import warnings
from typing import Any

import argilla as rg
import httpx
import pytest

from distilabel_selfinstruct.argilla.push import ReviewServerError, server_errors
from distilabel_selfinstruct.compat import _guard
from distilabel_selfinstruct.compat import argilla as compat

ME = {
    "id": "00000000-0000-0000-0000-000000000001",
    "username": "owner",
    "role": "owner",
    "first_name": "owner",
    "api_key": "key",
    "inserted_at": "2024-01-01T00:00:00",
    "updated_at": "2024-01-01T00:00:00",
}


def sdk_error(monkeypatch: pytest.MonkeyPatch, status: int) -> Exception:
    """What the SDK raises when the server answers `status` (to the login for 401, else to
    a dataset lookup)."""
    monkeypatch.setattr(rg.Argilla, "_default_client", None)  # the SDK keeps the last one

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me" and status != 401:
            return httpx.Response(200, json=ME)
        return httpx.Response(status, json={"detail": "no"})

    mock = {"http://": httpx.MockTransport(answer)}
    with pytest.raises(Exception) as info:  # noqa: B017 - whatever the SDK raises
        client = rg.Argilla(api_url="http://argilla.invalid", api_key="key", mounts=mock)
        client.datasets("dataset", workspace="workspace")
    return info.value


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (401, "ArgillaCredentialsError", "rejected the API key"),
        (403, "ForbiddenError", "(403 Forbidden)"),
        (404, "NotFoundError", "not found while"),
        (500, "ArgillaAPIError", "failed while"),
    ],
)
def test_what_the_sdk_raises_is_told_apart(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str, message: str
) -> None:
    error = sdk_error(monkeypatch, status)
    errors = compat.argilla_errors()
    assert isinstance(error, getattr(errors, kind))
    assert isinstance(error, errors.ArgillaError)
    with pytest.raises(ReviewServerError, match=message) as info:
        with server_errors("http://argilla.invalid", "pushing"):
            raise error
    assert info.value.transient is (status >= 500)


def test_the_classes_are_unpacked_by_name() -> None:
    errors = compat.argilla_errors()
    assert [cls.__name__ for cls in errors] == list(compat.ArgillaErrors._fields)
    assert issubclass(errors.UnauthorizedError, errors.ArgillaAPIError)


def test_a_moved_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "PRIVATE_MODULE", "argilla._no_such_module")
    with pytest.raises(compat.ArgillaCompatError, match=rf"argilla {rg.__version__} has no"):
        compat.argilla_errors()


@pytest.mark.parametrize(("version", "warns"), [("2.8.0", False), ("3.0.0", True)])
def test_the_version_guard(monkeypatch: pytest.MonkeyPatch, version: str, warns: bool) -> None:
    monkeypatch.setattr(rg, "__version__", version)
    monkeypatch.setattr(_guard, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat.argilla_errors()
        compat.argilla_errors()
    messages: list[Any] = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(messages) == (1 if warns else 0)  # once per process
    if warns:
        assert messages[0].startswith("argilla 3.0.0 is outside >=2.8,<3")
