"""Bounded waits until a service answers, and the API checks once the server is up.

Only the standard library: urllib with proxies switched off, since loopback traffic must
never go through a proxy configured in the environment.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

from .output import LauncherError

POLL_SECONDS = 0.5


class NotReadyError(Exception):
    """A wait ended without the service answering; the message says why."""


def port_open(host: str, port: int, timeout_seconds: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False


def redis_answers(host: str, port: int, timeout_seconds: float = 2.0) -> bool:
    """Whether a Redis server answers PING (an inline command, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def request_json(
    method: str,
    url: str,
    api_key: Optional[str] = None,
    body: Optional[dict] = None,
    timeout_seconds: float = 10.0,
) -> tuple[int, Any]:
    """The HTTP status and the decoded JSON body (the text if it isn't JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("X-Argilla-Api-Key", api_key)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout_seconds) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        payload = error.read()
        status = error.code
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload.decode(errors="replace")


def http_answers(url: str, expect: Optional[str] = None, timeout_seconds: float = 5.0) -> bool:
    """Whether GET `url` gives 200 with `expect` somewhere in the body."""
    try:
        status, payload = request_json("GET", url, timeout_seconds=timeout_seconds)
    except (OSError, urllib.error.URLError, ValueError):
        return False
    if status != 200:
        return False
    if expect is None:
        return True
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return expect in text


def wait_until(
    probe: Callable[[], bool],
    *,
    target: str,
    timeout_seconds: float,
    process_alive: Optional[Callable[[], bool]] = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Polls `probe` until it is true; gives up early when the service's process died
    (no point waiting out the timeout on a crash) and at `timeout_seconds`."""
    deadline = clock() + timeout_seconds
    while True:
        if probe():
            return
        if process_alive is not None and not process_alive():
            raise NotReadyError(f"its process exited before {target} answered")
        if clock() >= deadline:
            raise NotReadyError(f"{target} not ready after {timeout_seconds:.0f} s")
        sleep(poll_seconds)


def ensure_workspace(url: str, api_key: str, workspace: str, username: str) -> None:
    """Checks that `api_key` belongs to `username`, and makes it a member of `workspace`
    (creating the workspace if needed)."""
    status, me = request_json("GET", f"{url}/api/v1/me", api_key)
    if status != 200:
        raise LauncherError(
            f"API key rejected by {url} (HTTP {status}); the user may exist with another key:"
            " run 'argilla-local down' and delete the state dir's data/argilla to start afresh"
        )
    if me.get("username") != username:
        raise LauncherError(f"API key belongs to user {me.get('username')!r}, not {username!r}")

    status, payload = request_json("GET", f"{url}/api/v1/me/workspaces", api_key)
    if status != 200:
        raise LauncherError(f"listing workspaces failed (HTTP {status}): {payload}")
    found = [item for item in payload.get("items", []) if item.get("name") == workspace]
    if found:
        workspace_id = found[0]["id"]
    else:
        status, payload = request_json(
            "POST", f"{url}/api/v1/workspaces", api_key, {"name": workspace}
        )
        if status != 201:
            raise LauncherError(
                f"creating workspace {workspace!r} failed (HTTP {status}): {payload}"
            )
        workspace_id = payload["id"]

    members_url = f"{url}/api/v1/workspaces/{workspace_id}/users"
    status, payload = request_json("GET", members_url, api_key)
    if status != 200:
        raise LauncherError(f"listing workspace users failed (HTTP {status}): {payload}")
    if not any(item.get("id") == me["id"] for item in payload.get("items", [])):
        status, payload = request_json("POST", members_url, api_key, {"user_id": me["id"]})
        if status != 201:
            raise LauncherError(
                f"adding {username!r} to workspace {workspace!r} failed (HTTP {status}): {payload}"
            )
