"""The argilla-local launcher's own parts, without the real server: argument parsing,
settings, state files, pid identity and stopping, readiness waits (against fake servers on
127.0.0.1), the `env` output, and that plain `up` never installs."""

from __future__ import annotations

import http.server
import json
import os
import runpy
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from distilabel_selfinstruct.argilla.local_server import cli, installs, processes, readiness
from distilabel_selfinstruct.argilla.local_server.config import Settings, StatePaths
from distilabel_selfinstruct.argilla.local_server.output import LauncherError, report_failure
from distilabel_selfinstruct.argilla.local_server.services import (
    opensearch_command,
    opensearch_run_as,
    write_opensearch_config,
)
from distilabel_selfinstruct.argilla.local_server.state import (
    ProcessIdentity,
    current_boot_id,
    ensure_auth_secret,
    read_bare_pid,
    read_pid_file,
    setup_fingerprint,
    state_lock,
    write_pid_file,
)


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


@pytest.fixture
def launcher_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir and free ports, so nothing touches a real installation."""
    for name in list(os.environ):
        if name.startswith("ARGILLA_LOCAL_"):
            monkeypatch.delenv(name)
    state_dir = tmp_path / "state"
    monkeypatch.setenv("ARGILLA_LOCAL_HOME", str(state_dir))
    monkeypatch.setenv("ARGILLA_LOCAL_PORT", str(free_port()))
    monkeypatch.setenv("ARGILLA_LOCAL_ES_PORT", str(free_port()))
    monkeypatch.setenv("ARGILLA_LOCAL_REDIS_PORT", str(free_port()))
    return state_dir


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """An unrelated process of ours, in its own session, always cleaned up."""
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def settings_for(environment: dict[str, str]) -> Settings:
    return Settings.from_environment({"HOME": "/home/someone", **environment})


# ---------------------------------------------------------------- argument parsing


@pytest.mark.parametrize(
    ("argv", "command", "install"),
    [
        (["up"], "up", False),
        (["up", "--install"], "up", True),
        (["install"], "install", None),
        (["down"], "down", None),
        (["status"], "status", None),
        (["env"], "env", None),
    ],
)
def test_parser_accepts_the_commands(argv: list[str], command: str, install: Any) -> None:
    arguments = cli.build_parser("argilla-local").parse_args(argv)
    assert arguments.command == command
    assert getattr(arguments, "install", None) is install


@pytest.mark.parametrize("argv", [["bogus"], ["up", "--bogus"], ["down", "--install"]])
def test_parser_rejects_unknown_commands_and_flags(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.build_parser("argilla-local").parse_args(argv)
    assert raised.value.code == 2


@pytest.mark.parametrize("argv", [[], ["help"]])
def test_no_command_or_help_prints_usage(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert cli.main(argv, program_name="argilla-local") == 0
    output = capsys.readouterr().out
    assert output.startswith("usage: argilla-local")
    assert all(
        f"    {command} " in output for command in ("up", "install", "down", "status", "env")
    )
    assert "ARGILLA_LOCAL_HOME" in output


# ---------------------------------------------------------------- settings


def test_settings_defaults() -> None:
    settings = settings_for({})
    assert settings.state_dir == Path("/home/someone/.cache/distilabel-selfinstruct/argilla-local")
    assert settings.url == "http://127.0.0.1:6900"
    assert settings.opensearch_url == "http://127.0.0.1:9200"
    assert (settings.redis_port, settings.timeout_seconds) == (6379, 180)
    assert (settings.username, settings.api_key, settings.workspace) == (
        "argilla",
        "argilla.apikey",
        "argilla",
    )
    assert settings.components == ("redis", "opensearch", "server", "worker")


def test_settings_from_variables() -> None:
    settings = settings_for(
        {
            "ARGILLA_LOCAL_HOME": "/srv/argilla",
            "ARGILLA_LOCAL_PORT": "7000",
            "ARGILLA_LOCAL_WORKER": "0",
            "ARGILLA_LOCAL_JAVA_HOME": "/opt/jdk",
        }
    )
    assert settings.state_dir == Path("/srv/argilla")
    assert settings.url == "http://127.0.0.1:7000"
    assert settings.components == ("redis", "opensearch", "server")
    assert settings.java_home == "/opt/jdk"


def test_settings_without_home_use_the_passwd_entry() -> None:
    settings = Settings.from_environment({})
    assert settings.state_dir.parts[-3:] == (".cache", "distilabel-selfinstruct", "argilla-local")


@pytest.mark.parametrize("variable", ["PORT", "ES_PORT", "REDIS_PORT", "TIMEOUT"])
def test_a_non_numeric_setting_is_one_clear_error(variable: str) -> None:
    with pytest.raises(LauncherError, match=f"ARGILLA_LOCAL_{variable} must be a number"):
        settings_for({f"ARGILLA_LOCAL_{variable}": "69oo"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ARGILLA_LOCAL_PASSWORD", "short", "PASSWORD must have at least 8"),
        ("ARGILLA_LOCAL_API_KEY", "short", "API_KEY must have at least 8"),
        ("ARGILLA_LOCAL_USERNAME", "Not Valid", "USERNAME must be lowercase"),
        ("ARGILLA_LOCAL_ES_RUNAS", "sudo", "ES_RUNAS must be auto, userns or user"),
    ],
)
def test_start_settings_are_validated(variable: str, value: str, message: str) -> None:
    with pytest.raises(LauncherError, match=message):
        settings_for({variable: value}).validate_for_start()


# ---------------------------------------------------------------- env output


def test_env_prints_the_two_exports(
    launcher_environment: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGILLA_LOCAL_PORT", "6901")
    assert cli.main(["env"], program_name="argilla-local") == 0
    assert capsys.readouterr().out == (
        "export ARGILLA_API_URL=http://127.0.0.1:6901\nexport ARGILLA_API_KEY=argilla.apikey\n"
    )


def test_env_output_survives_eval_with_awkward_keys() -> None:
    key = 'it\'s a $key; `rm -rf` "quoted"'
    lines = cli.export_lines(settings_for({"ARGILLA_LOCAL_API_KEY": key}))
    evaluated = subprocess.run(
        ["bash", "-c", 'eval "$(cat)"; printf "%s\\n%s" "$ARGILLA_API_URL" "$ARGILLA_API_KEY"'],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert evaluated == f"http://127.0.0.1:6900\n{key}"


# ---------------------------------------------------------------- state files


def test_pid_file_round_trip(tmp_path: Path) -> None:
    identity = ProcessIdentity(pid=1234, start_time=98765, boot_id="boot", group_leader=False)
    write_pid_file(tmp_path / "run" / "server.pid", identity)
    assert read_pid_file(tmp_path / "run" / "server.pid") == identity
    assert [path.name for path in (tmp_path / "run").iterdir()] == ["server.pid"]


def test_pid_files_legacy_garbage_and_missing(tmp_path: Path) -> None:
    (tmp_path / "legacy.pid").write_text("4321\n")
    (tmp_path / "garbage.pid").write_text("{not json")
    assert read_pid_file(tmp_path / "legacy.pid") == ProcessIdentity(4321, None, "")
    assert read_pid_file(tmp_path / "garbage.pid") is None
    assert read_pid_file(tmp_path / "missing.pid") is None
    assert read_bare_pid(tmp_path / "legacy.pid") == 4321
    assert read_bare_pid(tmp_path / "garbage.pid") is None


def test_setup_fingerprint_matches_the_bash_launchers_stamp() -> None:
    settings = settings_for({"ARGILLA_LOCAL_PASSWORD": "secret-password"})
    by_bash = subprocess.run(
        [
            "bash",
            "-c",
            "printf '%s\\n' argilla secret-password argilla.apikey argilla | sha256sum | cut -c1-16",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert setup_fingerprint(settings) == f"2.8.0 {by_bash}"


def test_auth_secret_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "auth-secret-key"
    secret = ensure_auth_secret(path)
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_auth_secret(path) == secret


def test_state_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    moments = iter([0.0, 0.1, 5.0])
    with state_lock(lock):
        with pytest.raises(LauncherError, match="another argilla-local is busy"):
            with state_lock(
                lock, timeout_seconds=1.0, clock=lambda: next(moments), sleep=lambda _: None
            ):
                pass
    with state_lock(lock, timeout_seconds=0.0):
        pass


# ---------------------------------------------------------------- process identity


def test_parse_stat_counts_fields_from_the_last_parenthesis() -> None:
    fields = ["S", "1", "777", "777"] + ["0"] * 15 + ["123456"] + ["0"] * 10
    status = processes.parse_stat(f"42 (odd) name) here) {' '.join(fields)}")
    assert (status.state, status.process_group, status.start_time) == ("S", 777, 123456)


def test_identity_of_a_live_process(sleeper: subprocess.Popen) -> None:
    identity = processes.identity_of(sleeper.pid)
    assert identity is not None and identity.group_leader
    assert identity.boot_id == current_boot_id()
    assert processes.is_running(identity)


def test_a_recycled_pid_is_not_ours(sleeper: subprocess.Popen) -> None:
    identity = processes.identity_of(sleeper.pid)
    assert identity is not None and identity.start_time is not None
    earlier = ProcessIdentity(sleeper.pid, identity.start_time - 1, identity.boot_id)
    other_boot = ProcessIdentity(sleeper.pid, identity.start_time, "another-boot")
    assert not processes.is_running(earlier)
    assert not processes.is_running(other_boot)
    assert processes.remaining_processes(earlier) == []
    # Stopping the stale identity signals nothing: the live process survives.
    assert processes.stop(earlier, 0.2) is False
    time.sleep(0.05)
    assert sleeper.poll() is None


def test_a_zombie_or_reaped_process_is_not_running(sleeper: subprocess.Popen) -> None:
    identity = processes.identity_of(sleeper.pid)
    assert identity is not None
    os.kill(sleeper.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while processes.is_running(identity) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not processes.is_running(identity)  # a zombie until reaped
    sleeper.wait()
    assert not processes.is_running(identity)


def test_legacy_identity_needs_the_command_marker(sleeper: subprocess.Popen) -> None:
    legacy = ProcessIdentity(sleeper.pid, None, "")
    assert processes.is_running(legacy, legacy_marker="sleep")
    assert not processes.is_running(legacy, legacy_marker="redis-server")
    assert not processes.is_running(legacy)


def test_adopt_child_checks_marker_and_start_time(sleeper: subprocess.Popen) -> None:
    parent = processes.identity_of(os.getpid())
    child = processes.identity_of(sleeper.pid)
    assert parent is not None and child is not None and child.start_time is not None
    assert processes.adopt_child(sleeper.pid, "sleep", parent) == child
    assert processes.adopt_child(sleeper.pid, "java", parent) is None
    later_parent = ProcessIdentity(os.getpid(), child.start_time + 1, parent.boot_id)
    assert processes.adopt_child(sleeper.pid, "sleep", later_parent) is None


def test_launch_records_identity_and_stop_ends_the_whole_group(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    identity = processes.launch(
        "service",
        ["sh", "-c", "sleep 30 & sleep 30"],
        log_path=log,
        pid_file=tmp_path / "service.pid",
    )
    assert read_pid_file(tmp_path / "service.pid") == identity
    assert "===== argilla-local: service started" in log.read_text()
    deadline = time.monotonic() + 5
    while len(processes.group_members(identity)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    members = processes.group_members(identity)
    assert identity.pid in members and len(members) == 3
    assert processes.stop(identity, 10.0) is False  # SIGTERM was enough
    assert processes.remaining_processes(identity) == []


def test_stop_kills_what_ignores_sigterm_after_the_grace_period(tmp_path: Path) -> None:
    # An ignored signal stays ignored across fork and exec, so the whole group ignores TERM.
    identity = processes.launch(
        "stubborn",
        ["sh", "-c", "trap '' TERM; sleep 30 & sleep 30"],
        log_path=tmp_path / "stubborn.log",
        pid_file=tmp_path / "stubborn.pid",
    )
    time.sleep(0.1)
    announcements: list[str] = []
    started = time.monotonic()
    assert processes.stop(identity, 0.3, announce=announcements.append) is True
    assert time.monotonic() - started < 3
    assert announcements == ["did not stop within 0 s: killing it"]
    assert processes.remaining_processes(identity) == []


def test_stop_signals_only_an_adopted_child_that_leads_no_group(tmp_path: Path) -> None:
    # Like OpenSearch's JVM under runuser: a child in its launcher's group.
    launcher = processes.launch(
        "launcher",
        ["sh", "-c", "sleep 30 & echo $! > child.pid; wait; sleep 30"],
        log_path=tmp_path / "launcher.log",
        pid_file=tmp_path / "launcher.pid",
        working_dir=tmp_path,
    )
    deadline = time.monotonic() + 5
    while read_bare_pid(tmp_path / "child.pid") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child_pid = read_bare_pid(tmp_path / "child.pid")
    assert child_pid is not None
    # The pid is written by the shell that forked it, maybe before the child has exec'd
    # `sleep` (under load it was still `sh`): ask until it is.
    child = processes.adopt_child(child_pid, "sleep", launcher)
    while child is None and time.monotonic() < deadline + 5:
        time.sleep(0.01)
        child = processes.adopt_child(child_pid, "sleep", launcher)
    assert child is not None and not child.group_leader
    assert processes.stop(child, 5.0) is False
    assert not processes.is_running(child)
    assert processes.is_running(launcher)  # the group itself was not signalled
    processes.stop(launcher, 5.0)
    assert processes.remaining_processes(launcher) == []


def test_group_members_outlive_their_leader(tmp_path: Path) -> None:
    identity = processes.launch(
        "forking",
        ["sh", "-c", "sleep 30 & exit 0"],
        log_path=tmp_path / "forking.log",
        pid_file=tmp_path / "forking.pid",
    )
    deadline = time.monotonic() + 5
    while processes.is_running(identity) and time.monotonic() < deadline:
        time.sleep(0.01)
    orphans = processes.remaining_processes(identity)
    assert len(orphans) == 1 and identity.pid not in orphans
    processes.stop(identity, 5.0)
    assert processes.remaining_processes(identity) == []


# ---------------------------------------------------------------- readiness


def test_wait_until_returns_once_the_probe_answers() -> None:
    answers = iter([False, False, True])
    sleeps: list[float] = []
    readiness.wait_until(
        lambda: next(answers),
        target="x",
        timeout_seconds=10,
        clock=lambda: 0.0,
        sleep=sleeps.append,
    )
    assert sleeps == [0.5, 0.5]


def test_wait_until_times_out_on_the_injected_clock() -> None:
    moments = iter([0.0, 1.0, 2.0, 3.5])
    with pytest.raises(readiness.NotReadyError, match="http://x not ready after 3 s"):
        readiness.wait_until(
            lambda: False,
            target="http://x",
            timeout_seconds=3,
            clock=lambda: next(moments),
            sleep=lambda _: None,
        )


def test_wait_until_gives_up_when_the_process_died() -> None:
    with pytest.raises(readiness.NotReadyError, match="exited before redis answered"):
        readiness.wait_until(
            lambda: False,
            target="redis",
            timeout_seconds=1000,
            process_alive=lambda: False,
            sleep=lambda _: pytest.fail("should not wait"),
        )


@pytest.fixture
def fake_redis() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                if connection.recv(64).startswith(b"PING"):
                    connection.sendall(b"+PONG\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()


def test_redis_probe_and_port_probe(fake_redis: int) -> None:
    assert readiness.port_open("127.0.0.1", fake_redis)
    assert readiness.redis_answers("127.0.0.1", fake_redis)
    closed = free_port()
    assert not readiness.port_open("127.0.0.1", closed)
    assert not readiness.redis_answers("127.0.0.1", closed)


class FakeArgilla(http.server.BaseHTTPRequestHandler):
    """Just enough of Argilla's API (and an OpenSearch health URL) for the probes."""

    routes: dict[tuple[str, str], Callable[[Optional[dict]], tuple[int, Any]]] = {}

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        handler = self.routes.get((method, self.path))
        status, payload = handler(body) if handler else (404, {"detail": "not found"})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_http() -> Iterator[tuple[str, dict]]:
    routes: dict = {}
    handler = type("Handler", (FakeArgilla,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", routes
    server.shutdown()
    server.server_close()


def test_http_probe_checks_status_and_expected_text(
    fake_http: tuple[str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, routes = fake_http
    routes[("GET", "/api/v1/version")] = lambda body: (200, {"version": "2.8.0"})
    routes[("GET", "/broken")] = lambda body: (500, {"version": "2.8.0"})
    # A proxy in the environment must not be used for loopback probes.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert readiness.http_answers(f"{url}/api/v1/version", expect="2.8.0")
    assert not readiness.http_answers(f"{url}/api/v1/version", expect="2.9.0")
    assert not readiness.http_answers(f"{url}/broken")
    assert not readiness.http_answers(f"http://127.0.0.1:{free_port()}/")


def test_wait_until_against_a_server_that_comes_up_late(fake_http: tuple[str, dict]) -> None:
    url, routes = fake_http
    calls = {"count": 0}

    def version(body: Optional[dict]) -> tuple[int, Any]:
        calls["count"] += 1
        return (200, {"version": "2.8.0"}) if calls["count"] >= 3 else (503, None)

    routes[("GET", "/api/v1/version")] = version
    readiness.wait_until(
        lambda: readiness.http_answers(f"{url}/api/v1/version", expect="2.8.0"),
        target=url,
        timeout_seconds=5,
        poll_seconds=0.01,
    )
    assert calls["count"] == 3


def test_ensure_workspace_creates_workspace_and_membership(fake_http: tuple[str, dict]) -> None:
    url, routes = fake_http
    created: list[tuple[str, Any]] = []
    routes[("GET", "/api/v1/me")] = lambda body: (200, {"id": "u1", "username": "argilla"})
    routes[("GET", "/api/v1/me/workspaces")] = lambda body: (200, {"items": []})

    def create_workspace(body: Optional[dict]) -> tuple[int, Any]:
        created.append(("workspace", body))
        return 201, {"id": "w1", "name": "argilla"}

    def add_member(body: Optional[dict]) -> tuple[int, Any]:
        created.append(("member", body))
        return 201, {}

    routes[("POST", "/api/v1/workspaces")] = create_workspace
    routes[("GET", "/api/v1/workspaces/w1/users")] = lambda body: (200, {"items": []})
    routes[("POST", "/api/v1/workspaces/w1/users")] = add_member
    readiness.ensure_workspace(url, "argilla.apikey", "argilla", "argilla")
    assert created == [("workspace", {"name": "argilla"}), ("member", {"user_id": "u1"})]


def test_ensure_workspace_explains_a_rejected_key(fake_http: tuple[str, dict]) -> None:
    url, routes = fake_http
    routes[("GET", "/api/v1/me")] = lambda body: (401, {"detail": "nope"})
    with pytest.raises(LauncherError, match=r"API key rejected .*HTTP 401.*delete the state"):
        readiness.ensure_workspace(url, "wrong.key", "argilla", "argilla")


# ---------------------------------------------------------------- installs and services


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.9" 2023-10-17\nOpenJDK Runtime', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21-ea" 2023-09-19', 21),
        ("no java here", None),
    ],
)
def test_java_major_version(output: str, major: Optional[int]) -> None:
    assert installs.java_major_version(output) == major


def test_the_packaged_resources_are_there() -> None:
    assert b"opensearch-knn" in installs.resource_bytes("pom.xml")
    shim = installs.resource_bytes("argilla_local_knn_compat.py").decode()
    compile(shim, "argilla_local_knn_compat.py", "exec")
    assert "index.knn" in shim


def test_extract_zip_keeps_exec_bits(tmp_path: Path) -> None:
    archive = tmp_path / "dist.zip"
    with zipfile.ZipFile(archive, "w") as writing:
        script = zipfile.ZipInfo("pkg/bin/tool")
        script.external_attr = 0o755 << 16
        writing.writestr(script, "#!/bin/sh\n")
        writing.writestr("pkg/README", "text")
    installs.extract_zip(archive, tmp_path / "out")
    assert os.access(tmp_path / "out" / "pkg" / "bin" / "tool", os.X_OK)
    assert (tmp_path / "out" / "pkg" / "README").read_text() == "text"


def test_missing_requirements_name_what_install_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    missing = installs.missing_requirements(StatePaths(tmp_path), "self", java_home=None)
    assert missing == [
        "redis-server (Debian package)",
        "Java >= 11 (Debian package openjdk-17-jre-headless)",
        "the server venv (argilla-server==2.8.0 click<8.2 from PyPI)",
        "OpenSearch 2.19.1 (Maven Central)",
    ]


def test_opensearch_run_as() -> None:
    settings = settings_for({})
    assert opensearch_run_as(settings, 1000, lambda: pytest.fail("no probe")) == "self"
    assert opensearch_run_as(settings, 0, lambda: True) == "userns"
    assert opensearch_run_as(settings, 0, lambda: False) == "user"
    forced = settings_for({"ARGILLA_LOCAL_ES_RUNAS": "user"})
    assert opensearch_run_as(forced, 0, lambda: True) == "user"


def test_opensearch_config_and_command(tmp_path: Path) -> None:
    settings = settings_for({"ARGILLA_LOCAL_ES_PORT": "9333", "ARGILLA_LOCAL_ES_HEAP": "256m"})
    paths = StatePaths(tmp_path)
    (paths.opensearch_home / "config").mkdir(parents=True)
    (paths.opensearch_home / "config" / "log4j2.properties").write_text("status = error\n")
    write_opensearch_config(settings, paths)
    config = (paths.opensearch_config / "opensearch.yml").read_text()
    assert "http.port: 9333\n" in config and "network.host: 127.0.0.1\n" in config
    assert f"path.data: {paths.opensearch_data}\n" in config
    assert "-Xms256m\n-Xmx256m\n" in (paths.opensearch_config / "jvm.options").read_text()
    command = opensearch_command(paths, "userns", Path("/opt/jdk"))
    assert command[:5] == ["unshare", "--user", "--map-user=1", "--map-group=1", "--"]
    assert command[-2:] == ["-p", str(paths.opensearch_own_pid_file)]
    assert opensearch_command(paths, "self", Path("/opt/jdk"))[0] == "env"


def test_report_failure_puts_the_one_line_reason_last(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {number}\n" for number in range(100)))
    stream = _Collect()
    report_failure(LauncherError("server did not\nbecome ready", log), stream)
    lines = stream.text.splitlines()
    assert lines[0] == f"----- last 40 lines of {log} -----"
    assert lines[1] == "line 60" and lines[40] == "line 99"
    assert lines[-1] == "argilla-local: error: server did not become ready"


class _Collect:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


# ---------------------------------------------------------------- commands


def test_plain_up_never_installs(
    launcher_environment: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("ARGILLA_LOCAL_ES_RUNAS", "userns")

    def no_installs(*args: Any, **kwargs: Any) -> None:
        pytest.fail("plain up must not install")

    monkeypatch.setattr(installs.Installer, "install_all", no_installs)
    monkeypatch.setattr(installs.Installer, "apt_install", no_installs)
    assert cli.main(["up"], program_name="scripts/argilla-local") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    last_line = captured.err.strip().splitlines()[-1]
    assert last_line.startswith("argilla-local: error: missing redis-server (Debian package);")
    assert last_line.endswith(
        "install with: scripts/argilla-local install (or scripts/argilla-local up --install)"
    )


def test_the_test_fixture_runs_plain_up() -> None:
    from tests.argilla import conftest

    assert conftest.UP_COMMAND[-1] == "up"
    assert "--install" not in conftest.UP_COMMAND


def test_up_refuses_a_port_someone_else_uses(
    launcher_environment: Path,
    fake_redis: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("ARGILLA_LOCAL_REDIS_PORT", str(fake_redis))
    assert cli.main(["up", "--install"], program_name="argilla-local") == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"argilla-local: error: port {fake_redis} (redis) is already in use by a process"
        " argilla-local did not start; stop it or set ARGILLA_LOCAL_REDIS_PORT"
    )


def test_status_and_down_with_nothing_started(
    launcher_environment: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["status"], program_name="argilla-local") == 3
    output = capsys.readouterr().out
    assert output.splitlines()[:4] == [
        "redis       stopped",
        "opensearch  stopped",
        "server      stopped",
        "worker      stopped",
    ]
    assert output.splitlines()[-1] == f"state dir: {launcher_environment}"
    assert cli.main(["down"], program_name="argilla-local") == 0
    assert "nothing to stop" in capsys.readouterr().err
    assert not launcher_environment.exists()


def test_status_and_down_stop_exactly_what_was_recorded(
    launcher_environment: Path, sleeper: subprocess.Popen, capsys: pytest.CaptureFixture
) -> None:
    paths = StatePaths(launcher_environment)
    paths.run.mkdir(parents=True)
    worker = processes.launch(
        "worker", ["sleep", "30"], log_path=worker_log(paths), pid_file=paths.pid_file("worker")
    )
    unrelated = processes.identity_of(sleeper.pid)
    assert unrelated is not None and unrelated.start_time is not None
    # A stale file whose pid now belongs to another program (start time differs).
    write_pid_file(
        paths.pid_file("server"),
        ProcessIdentity(sleeper.pid, unrelated.start_time - 5, unrelated.boot_id),
    )
    assert cli.main(["status"], program_name="argilla-local") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "server      stopped"
    assert lines[3].startswith(f"worker      running  pid {worker.pid}")

    assert cli.main(["down"], program_name="argilla-local") == 0
    assert f"stopping worker (pid {worker.pid})" in capsys.readouterr().err
    assert processes.remaining_processes(worker) == []
    assert sleeper.poll() is None  # the unrelated process was left alone
    assert list(paths.run.iterdir()) == []
    assert cli.main(["down"], program_name="argilla-local") == 0  # idempotent


def worker_log(paths: StatePaths) -> Path:
    paths.logs.mkdir(parents=True, exist_ok=True)
    return paths.log_for("worker")


def test_the_module_runs_as_a_script(
    launcher_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # In-process (a subprocess would spend seconds importing distilabel for one line).
    monkeypatch.setattr(sys, "argv", ["local_server", "env"])
    with pytest.raises(SystemExit) as raised:
        runpy.run_module("distilabel_selfinstruct.argilla.local_server", run_name="__main__")
    assert raised.value.code == 0
    assert capsys.readouterr().out.startswith("export ARGILLA_API_URL=http://127.0.0.1:")
