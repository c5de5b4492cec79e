"""Small stdlib-only helper for ``scripts/argilla-local``.

Bash is poor at HTTP and at bounded waits, so the script delegates those to this
module. It must run on any Python >= 3.9 without third-party packages because it
is also used before the server venv exists.

Every sub-command exits 0 on success and 1 with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Optional

POLL_SECONDS = 0.5


class HelperError(Exception):
    """A failure whose message is the one-line reason shown to the user."""


def _pid_alive(pid: Optional[int]) -> bool:
    if pid is None:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            # The state follows the parenthesised command name; a zombie has exited.
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _read_pid(pid_file: Optional[str]) -> Optional[int]:
    if not pid_file:
        return None
    try:
        with open(pid_file, encoding="utf-8") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _request(
    method: str,
    url: str,
    api_key: Optional[str] = None,
    body: Optional[dict] = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("X-Argilla-Api-Key", api_key)
    # Never route loopback traffic through a proxy configured in the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        payload = error.read()
        status = error.code
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload.decode(errors="replace")


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _redis_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str, expect: Optional[str]) -> bool:
    try:
        status, payload = _request("GET", url, timeout=5.0)
    except (OSError, urllib.error.URLError):
        return False
    if status != 200:
        return False
    if expect is None:
        return True
    return expect in json.dumps(payload) if not isinstance(payload, str) else expect in payload


def wait_for(
    kind: str, target: str, timeout: float, pid_file: Optional[str], expect: Optional[str]
) -> None:
    """Poll until the target answers, the process behind pid_file dies, or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        if kind == "redis":
            host, port = target.rsplit(":", 1)
            ready = _redis_ping(host, int(port))
        else:
            ready = _http_ok(target, expect)
        if ready:
            return
        pid = _read_pid(pid_file)
        # The pid file may appear a little after launch (OpenSearch writes its own).
        if pid_file and os.path.exists(pid_file) and not _pid_alive(pid):
            raise HelperError(f"process {pid} exited before {target} became ready")
        if time.monotonic() >= deadline:
            raise HelperError(f"{target} not ready after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def ensure_workspace(url: str, api_key: str, workspace: str, username: str) -> None:
    """Check that api_key belongs to username and that it is a member of workspace."""
    status, me = _request("GET", f"{url}/api/v1/me", api_key)
    if status != 200:
        raise HelperError(
            f"API key rejected by {url} (HTTP {status}); the user may exist with another key:"
            " run 'argilla-local down' and delete the state dir's data/argilla to start afresh"
        )
    if me.get("username") != username:
        raise HelperError(f"API key belongs to user {me.get('username')!r}, not {username!r}")

    status, payload = _request("GET", f"{url}/api/v1/me/workspaces", api_key)
    if status != 200:
        raise HelperError(f"listing workspaces failed (HTTP {status}): {payload}")
    found = [item for item in payload.get("items", []) if item.get("name") == workspace]
    if found:
        workspace_id = found[0]["id"]
    else:
        status, payload = _request("POST", f"{url}/api/v1/workspaces", api_key, {"name": workspace})
        if status != 201:
            raise HelperError(f"creating workspace {workspace!r} failed (HTTP {status}): {payload}")
        workspace_id = payload["id"]

    status, payload = _request("GET", f"{url}/api/v1/workspaces/{workspace_id}/users", api_key)
    if status != 200:
        raise HelperError(f"listing workspace users failed (HTTP {status}): {payload}")
    if not any(item.get("id") == me["id"] for item in payload.get("items", [])):
        status, payload = _request(
            "POST", f"{url}/api/v1/workspaces/{workspace_id}/users", api_key, {"user_id": me["id"]}
        )
        if status != 201:
            raise HelperError(
                f"adding {username!r} to workspace {workspace!r} failed (HTTP {status}): {payload}"
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    port = commands.add_parser("port-open", help="exit 0 if host:port accepts connections")
    port.add_argument("host")
    port.add_argument("port", type=int)

    wait = commands.add_parser("wait", help="wait until a service answers")
    wait.add_argument("kind", choices=["http", "redis"])
    wait.add_argument("target", help="URL for http, host:port for redis")
    wait.add_argument("--timeout", type=float, default=180.0)
    wait.add_argument("--pid-file", help="give up early when this process dies")
    wait.add_argument("--expect", help="substring the JSON answer must contain")

    workspace = commands.add_parser("ensure-workspace", help="verify the API key and the workspace")
    workspace.add_argument("url")
    workspace.add_argument("workspace")
    workspace.add_argument("username")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "port-open":
            return 0 if port_open(args.host, args.port) else 1
        if args.command == "wait":
            wait_for(args.kind, args.target, args.timeout, args.pid_file, args.expect)
        elif args.command == "ensure-workspace":
            # The key comes from the environment so that it never shows up in `ps`.
            ensure_workspace(
                args.url, os.environ["ARGILLA_LOCAL_API_KEY"], args.workspace, args.username
            )
    except HelperError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
