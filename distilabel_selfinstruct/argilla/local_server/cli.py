"""Argument parsing and the commands: `up`, `install`, `down`, `status`, `env`.

stdout carries only what a caller may `eval` (the export lines, everything else as `#`
comments); progress and errors go to stderr, a failure ending in one
`argilla-local: error: ...` line.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from .config import ARGILLA_SERVER_VERSION, HOST, OPENSEARCH_VERSION, Settings, StatePaths
from .installs import Installer, find_java_home, missing_requirements, sync_knn_compat
from .output import PREFIX, LauncherError, Progress, report_failure
from .processes import (
    COMMAND_MARKERS,
    adopt_child,
    is_running,
    launch,
    remaining_processes,
    stop,
)
from .readiness import (
    NotReadyError,
    ensure_workspace,
    http_answers,
    port_open,
    redis_answers,
    wait_until,
)
from .services import (
    argilla_environment,
    opensearch_command,
    opensearch_run_as,
    prepare_database,
    prepare_opensearch_files,
    redis_command,
    server_command,
    worker_command,
    write_opensearch_config,
)
from .state import (
    ProcessIdentity,
    ensure_auth_secret,
    read_bare_pid,
    read_pid_file,
    state_lock,
    write_pid_file,
)

# Set by scripts/argilla-local, so that messages name the command the user typed.
PROGRAM_NAME_VARIABLE = "ARGILLA_LOCAL_PROG"
MODULE_PROGRAM_NAME = "python -m distilabel_selfinstruct.argilla.local_server"
# Stop order and grace periods; the JVM gets longer to flush its indices.
STOP_ORDER = (
    ("worker", 30.0),
    ("server", 30.0),
    # OpenSearch's launcher may be runuser, which keeps its own session: the JVM goes first.
    ("opensearch-java", 60.0),
    ("opensearch", 30.0),
    ("redis", 30.0),
)
ENVIRONMENT_HELP = """\
environment (defaults):
  ARGILLA_LOCAL_HOME        state dir ($HOME/.cache/distilabel-selfinstruct/argilla-local)
  ARGILLA_LOCAL_PORT        Argilla port (6900)
  ARGILLA_LOCAL_ES_PORT     OpenSearch HTTP port (9200)
  ARGILLA_LOCAL_REDIS_PORT  Redis port (6379)
  ARGILLA_LOCAL_USERNAME    owner user (argilla)
  ARGILLA_LOCAL_PASSWORD    its password, >= 8 chars (argilla.apikey)
  ARGILLA_LOCAL_API_KEY     its API key, >= 8 chars (argilla.apikey)
  ARGILLA_LOCAL_WORKSPACE   workspace (argilla)
  ARGILLA_LOCAL_TIMEOUT     seconds to wait for each service (180)
  ARGILLA_LOCAL_PYTHON      interpreter for the server venv (python3, needs >= 3.9)
  ARGILLA_LOCAL_ES_HEAP     OpenSearch heap (512m)
  ARGILLA_LOCAL_WORKER      1 to start Argilla's background worker, 0 not to (1)
  ARGILLA_LOCAL_ES_RUNAS    as root, how to run OpenSearch: auto|userns|user (auto)
  ARGILLA_LOCAL_JAVA_HOME   Java >= 11 for OpenSearch (default: $JAVA_HOME, then java on PATH)

See docs/argilla-server.md."""


def build_parser(program_name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name,
        description=(
            f"Run a local Argilla {ARGILLA_SERVER_VERSION} server (OpenSearch"
            f" {OPENSEARCH_VERSION} + Redis + argilla-server) on {HOST} without Docker."
        ),
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    up = commands.add_parser(
        "up",
        help="start everything, wait until ready, set up the user, API key and workspace;"
        " print the URL and the export lines (eval-safe)",
    )
    up.add_argument(
        "--install",
        action="store_true",
        help="first install what is missing (apt-get, PyPI, Maven Central); without it,"
        " up fails when something is missing",
    )
    commands.add_parser(
        "install",
        help="install what up needs (Debian packages, the server venv, OpenSearch) and start nothing",
    )
    commands.add_parser("down", help="stop everything up started (idempotent)")
    commands.add_parser("status", help="show what is running (exit 0 all, 1 some, 3 none)")
    commands.add_parser("env", help='print the two export lines: eval "$(... env)"')
    commands.add_parser("help", help="show this help")
    return parser


def export_lines(settings: Settings) -> str:
    """The lines `env` prints, quoted for a POSIX shell's `eval`."""
    return (
        f"export ARGILLA_API_URL={shlex.quote(settings.url)}\n"
        f"export ARGILLA_API_KEY={shlex.quote(settings.api_key)}\n"
    )


def _where(settings: Settings, component: str) -> str:
    return {
        "redis": f"{HOST}:{settings.redis_port}",
        "opensearch": settings.opensearch_url,
        "server": settings.url,
        "worker": "queues default, high",
    }[component]


class Launcher:
    """The commands, for one set of settings."""

    def __init__(self, settings: Settings, progress: Progress, program_name: str) -> None:
        self.settings = settings
        self.progress = progress
        self.program_name = program_name

    # ------------------------------------------------------------------ helpers

    def _prepared_paths(self) -> StatePaths:
        root = self.settings.state_dir
        root.mkdir(parents=True, exist_ok=True)
        paths = StatePaths(root.resolve())
        for directory in paths.directories():
            directory.mkdir(parents=True, exist_ok=True)
        return paths

    def _running(self, paths: StatePaths, component: str) -> Optional[ProcessIdentity]:
        identity = read_pid_file(paths.pid_file(component))
        if identity is not None and is_running(identity, COMMAND_MARKERS[component]):
            return identity
        return None

    def _ensure_port_free(self, port: int, what: str, variable: str) -> None:
        if port_open(HOST, port):
            raise LauncherError(
                f"port {port} ({what}) is already in use by a process argilla-local did not"
                f" start; stop it or set {variable}"
            )

    def _wait_ready(
        self,
        component: str,
        identity: ProcessIdentity,
        probe_target: str,
        probe: Callable[[], bool],
        log_path: Path,
    ) -> None:
        try:
            wait_until(
                probe,
                target=probe_target,
                timeout_seconds=self.settings.timeout_seconds,
                process_alive=lambda: is_running(identity, COMMAND_MARKERS[component]),
            )
        except NotReadyError as error:
            raise LauncherError(f"{component} did not become ready: {error}", log_path) from None

    def _install_hint(self) -> str:
        return f"install with: {self.program_name} install (or {self.program_name} up --install)"

    # ------------------------------------------------------------------ commands

    def up(self, install: bool) -> int:
        settings = self.settings
        settings.validate_for_start()
        paths = self._prepared_paths()
        with state_lock(paths.lock_file):
            auth_secret = ensure_auth_secret(paths.auth_secret)
            running = {name: self._running(paths, name) for name in settings.components}
            # A taken port fails now, not after minutes of installing.
            if running["redis"] is None:
                self._ensure_port_free(settings.redis_port, "redis", "ARGILLA_LOCAL_REDIS_PORT")
            if running["opensearch"] is None:
                self._ensure_port_free(
                    settings.opensearch_port, "opensearch", "ARGILLA_LOCAL_ES_PORT"
                )
            if running["server"] is None:
                self._ensure_port_free(settings.port, "argilla", "ARGILLA_LOCAL_PORT")

            run_as = "self"
            java_home: Optional[Path] = None
            if any(identity is None for identity in running.values()):
                if running["opensearch"] is None:
                    run_as = opensearch_run_as(settings, os.geteuid())
                if install:
                    java_home = Installer(settings, paths, self.progress).install_all(run_as)
                else:
                    java_home = find_java_home(settings)
                    missing = missing_requirements(paths, run_as, java_home)
                    if missing:
                        raise LauncherError(f"missing {'; '.join(missing)}; {self._install_hint()}")
                sync_knn_compat(paths)
            environment = argilla_environment(settings, paths, auth_secret, os.environ)

            # Redis and OpenSearch boot while the database is migrated.
            redis = running["redis"] or self._start_redis(paths)
            opensearch = running["opensearch"]
            if opensearch is None:
                assert java_home is not None
                opensearch = self._start_opensearch(paths, run_as, java_home)
            self._wait_ready(
                "redis",
                redis,
                f"{HOST}:{settings.redis_port}",
                lambda: redis_answers(HOST, settings.redis_port),
                paths.log_for("redis"),
            )
            if running["server"] is None:
                prepare_database(settings, paths, environment, self.progress)
            health_url = (
                f"{settings.opensearch_url}/_cluster/health?wait_for_status=yellow&timeout=1s"
            )
            self._wait_ready(
                "opensearch",
                opensearch,
                health_url,
                lambda: http_answers(health_url, expect='"status"'),
                paths.log_for("opensearch"),
            )
            self._record_opensearch_jvm(paths, opensearch)

            server = running["server"] or self._start_argilla(
                paths, "server", server_command(settings, paths), environment
            )
            worker: Optional[ProcessIdentity] = None
            if settings.start_worker:
                worker = running["worker"] or self._start_argilla(
                    paths, "worker", worker_command(paths), environment
                )
            version_url = f"{settings.url}/api/v1/version"
            self._wait_ready(
                "server",
                server,
                version_url,
                lambda: http_answers(version_url, expect=ARGILLA_SERVER_VERSION),
                paths.log_for("server"),
            )
            try:
                ensure_workspace(
                    settings.url, settings.api_key, settings.workspace, settings.username
                )
            except LauncherError as error:
                raise LauncherError(error.reason, paths.log_for("server")) from None
            if worker is not None and not is_running(worker, COMMAND_MARKERS["worker"]):
                raise LauncherError(
                    "argilla worker exited right after starting", paths.log_for("worker")
                )

        print(
            f"# Argilla {ARGILLA_SERVER_VERSION} is ready at {settings.url}"
            f" (took {int(self.progress.elapsed_seconds)} s)"
        )
        print(
            f"# user {settings.username}, password {settings.password},"
            f" API key {settings.api_key}, workspace {settings.workspace}"
        )
        print(f"# state and logs in {paths.root}; stop with: {self.program_name} down")
        print(export_lines(settings), end="", flush=True)
        return 0

    def install(self) -> int:
        self.settings.validate_for_start()
        paths = self._prepared_paths()
        with state_lock(paths.lock_file):
            run_as = opensearch_run_as(self.settings, os.geteuid())
            Installer(self.settings, paths, self.progress).install_all(run_as)
            sync_knn_compat(paths)
        self.progress.say("everything up needs is installed")
        print(f"# installed in {paths.root}; start with: {self.program_name} up", flush=True)
        return 0

    def down(self) -> int:
        paths = StatePaths(self.settings.state_dir)
        if not paths.run.is_dir():
            self.progress.say(f"nothing to stop (no {paths.run})")
            return 0
        with state_lock(paths.lock_file):
            for component, grace_seconds in STOP_ORDER:
                self._stop(paths, component, grace_seconds)
        self.progress.say("stopped")
        return 0

    def status(self) -> int:
        paths = StatePaths(self.settings.state_dir)
        components = self.settings.components
        running_count = 0
        for component in components:
            identity = self._running(paths, component) if paths.run.is_dir() else None
            if identity is None:
                print(f"{component:<11} stopped")
                continue
            running_count += 1
            print(
                f"{component:<11} running  pid {identity.pid:<8} {_where(self.settings, component)}"
            )
        print(f"state dir: {paths.root}", flush=True)
        if running_count == len(components):
            return 0
        return 3 if running_count == 0 else 1

    def env(self) -> int:
        print(export_lines(self.settings), end="", flush=True)
        return 0

    # ------------------------------------------------------------------ starting

    def _start_redis(self, paths: StatePaths) -> ProcessIdentity:
        self.progress.say(f"starting redis on {HOST}:{self.settings.redis_port}")
        return launch(
            "redis",
            redis_command(self.settings, paths),
            log_path=paths.log_for("redis"),
            pid_file=paths.pid_file("redis"),
        )

    def _start_opensearch(self, paths: StatePaths, run_as: str, java_home: Path) -> ProcessIdentity:
        write_opensearch_config(self.settings, paths)
        prepare_opensearch_files(paths, run_as)
        paths.pid_file("opensearch-java").unlink(missing_ok=True)
        paths.opensearch_own_pid_file.unlink(missing_ok=True)
        self.progress.say(
            f"starting opensearch on {HOST}:{self.settings.opensearch_port}"
            f" (heap {self.settings.opensearch_heap}, run as: {run_as})"
        )
        return launch(
            "opensearch",
            opensearch_command(paths, run_as, java_home),
            log_path=paths.log_for("opensearch"),
            pid_file=paths.pid_file("opensearch"),
        )

    def _record_opensearch_jvm(self, paths: StatePaths, launcher: ProcessIdentity) -> None:
        """Records the JVM OpenSearch's launcher started (under runuser it is a separate
        process, outside the launcher's group), so that `down` can stop it directly."""
        recorded = read_pid_file(paths.pid_file("opensearch-java"))
        if recorded is not None and is_running(recorded):
            return
        jvm = self._opensearch_jvm_from_own_pid_file(paths, launcher)
        if jvm is not None:
            write_pid_file(paths.pid_file("opensearch-java"), jvm)

    def _opensearch_jvm_from_own_pid_file(
        self, paths: StatePaths, launcher: Optional[ProcessIdentity]
    ) -> Optional[ProcessIdentity]:
        jvm_pid = read_bare_pid(paths.opensearch_own_pid_file)
        if jvm_pid is None or launcher is None:
            return None
        return adopt_child(jvm_pid, COMMAND_MARKERS["opensearch-java"], launcher)

    def _start_argilla(
        self,
        paths: StatePaths,
        component: str,
        command: list[str],
        environment: dict[str, str],
    ) -> ProcessIdentity:
        if component == "server":
            self.progress.say(f"starting argilla server on {self.settings.url}")
        else:
            self.progress.say("starting argilla worker")
        return launch(
            component,
            command,
            log_path=paths.log_for(component),
            pid_file=paths.pid_file(component),
            environment=environment,
            working_dir=paths.root,
        )

    # ------------------------------------------------------------------ stopping

    def _stop(self, paths: StatePaths, component: str, grace_seconds: float) -> None:
        pid_file = paths.pid_file(component)
        identity = read_pid_file(pid_file)
        if identity is None and component == "opensearch-java":
            # `up` failed before it recorded the JVM: find it through OpenSearch's own file.
            identity = self._opensearch_jvm_from_own_pid_file(
                paths, read_pid_file(paths.pid_file("opensearch"))
            )
        marker = COMMAND_MARKERS[component]
        if identity is not None and remaining_processes(identity, marker):
            self.progress.say(f"stopping {component} (pid {identity.pid})")
            stop(
                identity,
                grace_seconds,
                legacy_marker=marker,
                announce=lambda message: self.progress.say(f"{component} {message}"),
            )
        pid_file.unlink(missing_ok=True)
        if component == "opensearch-java":
            paths.opensearch_own_pid_file.unlink(missing_ok=True)


def main(argv: Optional[Sequence[str]] = None, program_name: Optional[str] = None) -> int:
    """Entry point of `selfinstruct-argilla-local` and `scripts/argilla-local`."""
    program_name = (
        program_name
        or os.environ.get(PROGRAM_NAME_VARIABLE)
        or Path(sys.argv[0]).name
        or "selfinstruct-argilla-local"
    )
    parser = build_parser(program_name)
    arguments = parser.parse_args(argv)
    if arguments.command in (None, "help"):
        parser.print_help()
        return 0
    progress = Progress()
    try:
        launcher = Launcher(Settings.from_environment(os.environ), progress, program_name)
        if arguments.command == "up":
            return launcher.up(install=arguments.install)
        if arguments.command == "install":
            return launcher.install()
        if arguments.command == "down":
            return launcher.down()
        if arguments.command == "status":
            return launcher.status()
        return launcher.env()
    except LauncherError as error:
        report_failure(error)
        return 1
    except KeyboardInterrupt:
        print(f"{PREFIX}: error: interrupted", file=sys.stderr)
        return 130
