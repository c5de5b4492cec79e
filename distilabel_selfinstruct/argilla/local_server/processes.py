"""Starting and stopping the services, and telling our processes from recycled pids.

Every service is started in its own session, so its pid is also its process group id and
`down` can signal the whole group (the worker forks a pool, a worker and a scheduler). A
process is only ever signalled after `/proc` confirms it is the one recorded at start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from .output import LauncherError
from .state import PROC_ROOT, ProcessIdentity, current_boot_id, write_pid_file

# What a bare-number pid file's process must have on its command line (the bash launcher's
# files, and the pid file OpenSearch writes itself). Start-time identity needs no such check.
COMMAND_MARKERS = {
    "redis": "redis-server",
    "opensearch": "opensearch",
    "opensearch-java": "org.opensearch.bootstrap.OpenSearch",
    "server": "argilla_server start",
    "worker": "argilla_server worker",
}
STOP_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class ProcessStatus:
    """The parts of `/proc/<pid>/stat` the launcher needs."""

    state: str
    process_group: int
    start_time: int


def spawn_logged(
    command: Sequence[str],
    log: Any,
    log_path: Path,
    failure: str,
    working_dir: Optional[Path] = None,
    environment: Optional[Mapping[str, str]] = None,
) -> subprocess.Popen:
    """Starts `command` in its own session (a signal to the group reaches its children),
    stdout and stderr into the open `log`; a start failure is one `LauncherError` line."""
    try:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(environment) if environment is not None else None,
            cwd=working_dir,
        )
    except OSError as error:
        raise LauncherError(f"{failure}: {error}", log_path) from error


def parse_stat(text: str) -> ProcessStatus:
    """Parses a `/proc/<pid>/stat` line.

    The command name (field 2) is in parentheses and may itself contain spaces and `)`,
    so the fields are counted from the last `)`: field N is at index N - 3 after it."""
    fields_after_name = text.rsplit(")", 1)[1].split()
    return ProcessStatus(
        state=fields_after_name[0],
        process_group=int(fields_after_name[2]),
        start_time=int(fields_after_name[19]),
    )


def read_status(pid: int, proc_root: Path = PROC_ROOT) -> Optional[ProcessStatus]:
    try:
        return parse_stat((proc_root / str(pid) / "stat").read_text(errors="replace"))
    except (OSError, IndexError, ValueError):
        return None


def read_command_line(pid: int, proc_root: Path = PROC_ROOT) -> str:
    try:
        raw = (proc_root / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _is_live_state(status: Optional[ProcessStatus]) -> bool:
    # A zombie (Z) or dead (X) process has exited; it only waits for its parent.
    return status is not None and status.state not in ("Z", "X")


def identity_of(pid: int, proc_root: Path = PROC_ROOT) -> Optional[ProcessIdentity]:
    """The identity of a running process, to record in its pid file."""
    status = read_status(pid, proc_root)
    if status is None:
        return None
    return ProcessIdentity(
        pid=pid,
        start_time=status.start_time,
        boot_id=current_boot_id(proc_root),
        group_leader=status.process_group == pid,
    )


def is_running(
    identity: ProcessIdentity, legacy_marker: str = "", proc_root: Path = PROC_ROOT
) -> bool:
    """Whether the recorded process still runs, and is that process rather than a newer
    one that got the same pid."""
    status = read_status(identity.pid, proc_root)
    if not _is_live_state(status):
        return False
    assert status is not None
    if identity.start_time is None:
        return bool(legacy_marker) and legacy_marker in read_command_line(identity.pid, proc_root)
    if identity.boot_id and identity.boot_id != current_boot_id(proc_root):
        return False
    return status.start_time == identity.start_time


def group_members(
    leader: ProcessIdentity, legacy_marker: str = "", proc_root: Path = PROC_ROOT
) -> list[int]:
    """Live processes of the group `leader` started, the leader included while it runs.

    A group id is never reused while any member is alive, so members found after the
    leader exited are still ours, unless a new process now leads a group with that id."""
    if leader.start_time is None and not is_running(leader, legacy_marker, proc_root):
        return []
    members = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        status = read_status(pid, proc_root)
        if not _is_live_state(status) or status is None:
            continue
        if status.process_group != leader.pid:
            continue
        if pid == leader.pid and not is_running(leader, legacy_marker, proc_root):
            return []
        members.append(pid)
    return members


def adopt_child(
    pid: int, marker: str, parent: ProcessIdentity, proc_root: Path = PROC_ROOT
) -> Optional[ProcessIdentity]:
    """The identity of a process a service started itself (the JVM OpenSearch's launcher
    runs), accepted only if it has `marker` on its command line and started no earlier
    than `parent` in the same boot."""
    status = read_status(pid, proc_root)
    if not _is_live_state(status) or status is None:
        return None
    if marker not in read_command_line(pid, proc_root):
        return None
    if parent.start_time is not None:
        if parent.boot_id and parent.boot_id != current_boot_id(proc_root):
            return None
        if status.start_time < parent.start_time:
            return None
    return identity_of(pid, proc_root)


def launch(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    pid_file: Path,
    environment: Optional[Mapping[str, str]] = None,
    working_dir: Optional[Path] = None,
    proc_root: Path = PROC_ROOT,
) -> ProcessIdentity:
    """Starts `command` in its own session, in the background, appending to `log_path`,
    and records its identity in `pid_file`."""
    pid_file.unlink(missing_ok=True)
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(log_path, "ab") as log:
        log.write(f"===== argilla-local: {name} started {started_at} =====\n".encode())
        log.flush()
        # Popen returns once exec succeeded, so the pid is already the service's.
        process = spawn_logged(
            command, log, log_path, f"could not start {name}", working_dir, environment
        )
    # Even a process that died at once is a zombie of ours here, so its stat is readable.
    identity = identity_of(process.pid, proc_root)
    if identity is None:
        raise LauncherError(f"could not start {name}: pid {process.pid} vanished", log_path)
    write_pid_file(pid_file, identity)
    return identity


def remaining_processes(
    identity: ProcessIdentity, legacy_marker: str = "", proc_root: Path = PROC_ROOT
) -> list[int]:
    """What is left of what `identity` started: its group's live members if it led a
    group (they may outlive the leader), else the process itself if it still runs."""
    if identity.group_leader:
        return group_members(identity, legacy_marker, proc_root)
    return [identity.pid] if is_running(identity, legacy_marker, proc_root) else []


def stop(
    identity: ProcessIdentity,
    grace_seconds: float,
    *,
    legacy_marker: str = "",
    announce: Callable[[str], None] = lambda message: None,
    proc_root: Path = PROC_ROOT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """SIGTERM, then SIGKILL after `grace_seconds`, to what `identity` started. Returns
    whether it had to kill; signals nothing when nothing of it is left."""

    def remaining() -> list[int]:
        return remaining_processes(identity, legacy_marker, proc_root)

    def send(signal_number: int) -> None:
        if not remaining():
            return
        try:
            if identity.group_leader:
                # The group id can't be reused while a member lives: it is still ours.
                os.killpg(identity.pid, signal_number)
            else:
                os.kill(identity.pid, signal_number)
        except ProcessLookupError:
            pass
        except PermissionError as error:
            raise LauncherError(f"not allowed to signal pid {identity.pid}: {error}") from error

    send(signal.SIGTERM)
    deadline = clock() + grace_seconds
    while clock() < deadline:
        if not remaining():
            return False
        sleep(STOP_POLL_SECONDS)
    if not remaining():
        return False
    announce(f"did not stop within {grace_seconds:.0f} s: killing it")
    send(signal.SIGKILL)
    sleep(0.5)
    return True
