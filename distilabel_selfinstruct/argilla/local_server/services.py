"""How each service is run: command lines, environments, OpenSearch's config and user,
and the one-time database setup."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import Callable, Mapping

from .config import HOST, OPENSEARCH_SYSTEM_USER, Settings, StatePaths
from .installs import run_logged
from .output import LauncherError, Progress
from .state import read_stamp, setup_fingerprint, write_stamp

DATABASE_TIMEOUT_SECONDS = 300


def userns_available() -> bool:
    """Whether an unprivileged user namespace can map us to uid 1 (util-linux >= 2.38)."""
    try:
        return (
            subprocess.run(
                ["unshare", "--user", "--map-user=1", "--map-group=1", "true"],
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def opensearch_run_as(
    settings: Settings,
    effective_uid: int,
    userns_works: Callable[[], bool] = userns_available,
) -> str:
    """`self`, or as root (OpenSearch refuses to run as root) `userns` or `user`.

    `userns` runs it in a user namespace where it sees uid 1 while the kernel still treats
    it as root for files: no chown, and it works under /root. `user` runs it as a system
    user owning the writable dirs."""
    if effective_uid != 0:
        return "self"
    if settings.opensearch_run_as in ("userns", "user"):
        return settings.opensearch_run_as
    return "userns" if userns_works() else "user"


def write_opensearch_config(settings: Settings, paths: StatePaths) -> None:
    """Rewritten on every start, so the state dir's settings always win."""
    config = paths.opensearch_config
    config.mkdir(parents=True, exist_ok=True)
    (config / "log4j2.properties").write_bytes(
        (paths.opensearch_home / "config" / "log4j2.properties").read_bytes()
    )
    (config / "opensearch.yml").write_text(
        "# Written by argilla-local on every start; edits are lost.\n"
        "cluster.name: argilla-local\n"
        "node.name: argilla-local\n"
        f"path.data: {paths.opensearch_data}\n"
        f"path.logs: {paths.opensearch_logs}\n"
        f"network.host: {HOST}\n"
        f"http.port: {settings.opensearch_port}\n"
        "discovery.type: single-node\n"
        "# The disk may be nearly full: never block writes for that on a throwaway local node.\n"
        "cluster.routing.allocation.disk.threshold_enabled: false\n"
    )
    heap = settings.opensearch_heap
    (config / "jvm.options").write_text(
        f"-Xms{heap}\n"
        f"-Xmx{heap}\n"
        "-XX:+UseG1GC\n"
        "-XX:-HeapDumpOnOutOfMemoryError\n"
        "-XX:+ExitOnOutOfMemoryError\n"
        f"-XX:ErrorFile={paths.opensearch_logs}/hs_err_pid%p.log\n"
        "-Xlog:disable\n"
        "-Xlog:all=warning:stderr\n"
        "-Djava.io.tmpdir=${OPENSEARCH_TMPDIR}\n"
        "18-:-Djava.security.manager=allow\n"
        "20-:--add-modules=jdk.incubator.vector\n"
        "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
        "org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory\n"
    )


def _owned_dirs(paths: StatePaths) -> tuple[Path, ...]:
    return (
        paths.opensearch_data,
        paths.opensearch_logs,
        paths.opensearch_tmp,
        paths.opensearch_config,
    )


def _chown_tree(root: Path, user_id: int, group_id: int) -> None:
    os.chown(root, user_id, group_id)
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            os.chown(os.path.join(directory, name), user_id, group_id, follow_symlinks=False)


def _tree_has_other_owner(root: Path, user_id: int) -> bool:
    for directory, subdirectories, files in os.walk(root):
        for name in [".", *subdirectories, *files]:
            try:
                if os.lstat(os.path.join(directory, name)).st_uid != user_id:
                    return True
            except OSError:
                continue
    return False


def prepare_opensearch_files(paths: StatePaths, run_as: str) -> None:
    """Gives OpenSearch's writable dirs to whoever it runs as."""
    if run_as == "userns":
        # Files stay root's: undo a previous run as the system user, if any.
        for directory in (*_owned_dirs(paths), paths.run):
            if _tree_has_other_owner(directory, 0):
                _chown_tree(directory, 0, 0)
    elif run_as == "user":
        entry = pwd.getpwnam(OPENSEARCH_SYSTEM_USER)
        for directory in _owned_dirs(paths):
            _chown_tree(directory, entry.pw_uid, entry.pw_gid)
        os.chown(paths.run, entry.pw_uid, entry.pw_gid)
        for directory in (
            paths.opensearch_home / "lib",
            paths.opensearch_config,
            paths.opensearch_data,
            paths.run,
            paths.opensearch_tmp,
        ):
            target = str(directory)
            as_user = ["runuser", "-u", OPENSEARCH_SYSTEM_USER, "--"]
            reachable = subprocess.run(
                [*as_user, "test", "-r", target, "-a", "-x", target], capture_output=True
            )
            if reachable.returncode != 0:
                raise LauncherError(
                    f"user {OPENSEARCH_SYSTEM_USER} cannot reach {directory} (a parent dir is not"
                    " world-traversable): set ARGILLA_LOCAL_HOME to e.g. /var/lib/argilla-local,"
                    " or ARGILLA_LOCAL_ES_RUNAS=userns"
                )


def redis_command(settings: Settings, paths: StatePaths) -> list[str]:
    # No persistence: Argilla only keeps its job queue there.
    return [
        "redis-server",
        "--bind", HOST,
        "--port", str(settings.redis_port),
        "--protected-mode", "yes",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", str(paths.redis_data),
        "--logfile", "",
    ]  # fmt: skip


def opensearch_command(paths: StatePaths, run_as: str, java_home: Path) -> list[str]:
    """The launcher script under the run-as prefix; `env` passes the settings through
    runuser, which would reset part of the environment."""
    prefix = {
        "self": [],
        "userns": ["unshare", "--user", "--map-user=1", "--map-group=1", "--"],
        "user": ["runuser", "-u", OPENSEARCH_SYSTEM_USER, "--"],
    }[run_as]
    return [
        *prefix,
        "env",
        f"OPENSEARCH_JAVA_HOME={java_home}",
        f"JAVA_HOME={java_home}",
        f"OPENSEARCH_PATH_CONF={paths.opensearch_config}",
        f"OPENSEARCH_TMPDIR={paths.opensearch_tmp}",
        "OPENSEARCH_JAVA_OPTS=",
        str(paths.opensearch_home / "bin" / "opensearch"),
        "-p",
        str(paths.opensearch_own_pid_file),
    ]


def argilla_environment(
    settings: Settings, paths: StatePaths, auth_secret: str, base: Mapping[str, str]
) -> dict[str, str]:
    """The environment of every argilla_server process: ours plus its settings."""
    no_proxy = "127.0.0.1,localhost"
    if base.get("NO_PROXY"):
        no_proxy += "," + base["NO_PROXY"]
    return {
        **base,
        "ARGILLA_HOME_PATH": str(paths.argilla_data),
        "ARGILLA_DATABASE_URL": (
            f"sqlite+aiosqlite:///{paths.argilla_data}/argilla.db?check_same_thread=False"
        ),
        "ARGILLA_SEARCH_ENGINE": "opensearch",
        "ARGILLA_ELASTICSEARCH": settings.opensearch_url,
        "ARGILLA_REDIS_URL": f"redis://{HOST}:{settings.redis_port}/0",
        "ARGILLA_AUTH_SECRET_KEY": auth_secret,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": no_proxy,
    }


def server_command(settings: Settings, paths: StatePaths) -> list[str]:
    return [
        str(paths.venv_python), "-m", "argilla_server", "start",
        "--host", HOST, "--port", str(settings.port),
    ]  # fmt: skip


def worker_command(paths: StatePaths) -> list[str]:
    return [str(paths.venv_python), "-m", "argilla_server", "worker", "--num-workers", "1"]


def prepare_database(
    settings: Settings, paths: StatePaths, environment: Mapping[str, str], progress: Progress
) -> None:
    """Migrates the database and creates the owner user, unless a previous `up` already
    did with the same version and credentials: each command takes 5 to 10 s to import."""
    fingerprint = setup_fingerprint(settings)
    database = paths.argilla_data / "argilla.db"
    if database.exists() and read_stamp(paths.setup_stamp) == fingerprint:
        return
    progress.say(f"migrating the database and creating user '{settings.username}'")
    server = [str(paths.venv_python), "-m", "argilla_server", "database"]
    run_logged(
        [*server, "migrate"],
        log_path=paths.setup_log,
        timeout_seconds=DATABASE_TIMEOUT_SECONDS,
        failure="database migration failed",
        working_dir=paths.root,
        environment=environment,
    )
    # Every flag is given: the command prompts for missing ones. It skips an existing user.
    run_logged(
        [
            *server, "users", "create",
            "--first-name", settings.username,
            "--username", settings.username,
            "--role", "owner",
            "--password", settings.password,
            "--api-key", settings.api_key,
            "--workspace", settings.workspace,
        ],
        log_path=paths.setup_log,
        timeout_seconds=DATABASE_TIMEOUT_SECONDS,
        failure=f"creating user '{settings.username}' failed",
        working_dir=paths.root,
        environment=environment,
    )  # fmt: skip
    write_stamp(paths.setup_stamp, fingerprint)
