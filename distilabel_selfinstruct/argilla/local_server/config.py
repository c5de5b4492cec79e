"""What the launcher runs and where: pinned versions, settings read from `ARGILLA_LOCAL_*`
environment variables, and the layout of the state dir."""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from .output import LauncherError

ARGILLA_SERVER_VERSION = "2.8.0"
OPENSEARCH_VERSION = "2.19.1"
KNN_VERSION = "2.19.1.0"
# Without click<8.2 every `python -m argilla_server ...` dies with
# "Secondary flag is not valid for non-boolean flag".
SERVER_REQUIREMENTS = (f"argilla-server=={ARGILLA_SERVER_VERSION}", "click<8.2")
HOST = "127.0.0.1"
OPENSEARCH_SYSTEM_USER = "argilla-es"
RUN_AS_CHOICES = ("auto", "userns", "user")
# Start order; `down` stops them in reverse.
COMPONENTS = ("redis", "opensearch", "server", "worker")
USERNAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")
MINIMUM_SECRET_LENGTH = 8


def _home_dir(environment: Mapping[str, str]) -> Path:
    # HOME may be unset under some CI runners: fall back to the passwd entry.
    home = environment.get("HOME")
    return Path(home) if home else Path(pwd.getpwuid(os.getuid()).pw_dir)


def default_state_dir(environment: Mapping[str, str]) -> Path:
    configured = environment.get("ARGILLA_LOCAL_HOME")
    if configured:
        return Path(configured)
    return _home_dir(environment) / ".cache" / "distilabel-selfinstruct" / "argilla-local"


def _number(environment: Mapping[str, str], suffix: str, default: int) -> int:
    value = environment.get(f"ARGILLA_LOCAL_{suffix}", str(default))
    if not re.fullmatch(r"[0-9]+", value):
        raise LauncherError(f"ARGILLA_LOCAL_{suffix} must be a number, got '{value}'")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, as the `ARGILLA_LOCAL_*` variables set it."""

    state_dir: Path
    port: int
    opensearch_port: int
    redis_port: int
    username: str
    password: str
    api_key: str
    workspace: str
    timeout_seconds: int
    server_python: str
    opensearch_heap: str
    start_worker: bool
    opensearch_run_as: str
    java_home: Optional[str]
    inherited_java_home: Optional[str]

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> Settings:
        return cls(
            state_dir=default_state_dir(environment),
            port=_number(environment, "PORT", 6900),
            opensearch_port=_number(environment, "ES_PORT", 9200),
            redis_port=_number(environment, "REDIS_PORT", 6379),
            username=environment.get("ARGILLA_LOCAL_USERNAME", "argilla"),
            password=environment.get("ARGILLA_LOCAL_PASSWORD", "argilla.apikey"),
            api_key=environment.get("ARGILLA_LOCAL_API_KEY", "argilla.apikey"),
            workspace=environment.get("ARGILLA_LOCAL_WORKSPACE", "argilla"),
            timeout_seconds=_number(environment, "TIMEOUT", 180),
            server_python=environment.get("ARGILLA_LOCAL_PYTHON", "python3"),
            opensearch_heap=environment.get("ARGILLA_LOCAL_ES_HEAP", "512m"),
            # As before: only "1" starts the worker, so "0" (or anything else) skips it.
            start_worker=environment.get("ARGILLA_LOCAL_WORKER", "1") == "1",
            opensearch_run_as=environment.get("ARGILLA_LOCAL_ES_RUNAS", "auto"),
            java_home=environment.get("ARGILLA_LOCAL_JAVA_HOME") or None,
            inherited_java_home=environment.get("JAVA_HOME") or None,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def opensearch_url(self) -> str:
        return f"http://{HOST}:{self.opensearch_port}"

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(name for name in COMPONENTS if name != "worker" or self.start_worker)

    def validate_for_start(self) -> None:
        """What `up` and `install` need beyond numbers; `env` and `status` don't check it."""
        if len(self.password) < MINIMUM_SECRET_LENGTH:
            raise LauncherError("ARGILLA_LOCAL_PASSWORD must have at least 8 characters")
        if len(self.api_key) < MINIMUM_SECRET_LENGTH:
            raise LauncherError("ARGILLA_LOCAL_API_KEY must have at least 8 characters")
        if not USERNAME_PATTERN.match(self.username):
            raise LauncherError("ARGILLA_LOCAL_USERNAME must be lowercase letters, digits, - or _")
        if self.opensearch_run_as not in RUN_AS_CHOICES:
            raise LauncherError(
                "ARGILLA_LOCAL_ES_RUNAS must be auto, userns or user,"
                f" got '{self.opensearch_run_as}'"
            )


@dataclass(frozen=True)
class StatePaths:
    """Where everything lives under the state dir (see docs/argilla-server.md)."""

    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def venv_python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def venv_stamp(self) -> Path:
        return self.venv / ".argilla-local-requirements"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def maven_repository(self) -> Path:
        return self.downloads / "m2-repository"

    @property
    def artifacts(self) -> Path:
        return self.downloads / f"opensearch-{OPENSEARCH_VERSION}"

    @property
    def artifacts_complete(self) -> Path:
        return self.artifacts / ".complete"

    @property
    def opensearch_root(self) -> Path:
        return self.root / "opensearch"

    @property
    def opensearch_home(self) -> Path:
        return self.opensearch_root / f"opensearch-{OPENSEARCH_VERSION}"

    @property
    def opensearch_ready(self) -> Path:
        return self.opensearch_home / ".argilla-local-ready"

    @property
    def opensearch_config(self) -> Path:
        return self.opensearch_root / "config"

    @property
    def opensearch_tmp(self) -> Path:
        return self.opensearch_root / "tmp"

    @property
    def opensearch_data(self) -> Path:
        return self.root / "data" / "opensearch"

    @property
    def argilla_data(self) -> Path:
        return self.root / "data" / "argilla"

    @property
    def setup_stamp(self) -> Path:
        return self.argilla_data / ".argilla-local-setup"

    @property
    def redis_data(self) -> Path:
        return self.root / "data" / "redis"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def opensearch_logs(self) -> Path:
        return self.logs / "opensearch"

    @property
    def install_log(self) -> Path:
        return self.logs / "install.log"

    @property
    def setup_log(self) -> Path:
        return self.logs / "setup.log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def auth_secret(self) -> Path:
        return self.root / "auth-secret-key"

    @property
    def opensearch_own_pid_file(self) -> Path:
        # Written by OpenSearch itself (`-p`), a bare pid: `opensearch-java.pid` is ours.
        return self.run / "opensearch-java.own-pid"

    def log_for(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def directories(self) -> tuple[Path, ...]:
        """What `up` creates before anything else."""
        return (
            self.downloads,
            self.opensearch_root,
            self.opensearch_tmp,
            self.opensearch_data,
            self.argilla_data,
            self.redis_data,
            self.opensearch_logs,
            self.run,
        )
