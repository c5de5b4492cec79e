"""The state dir's small files: pid files with process identity, stamps, the lock, the
server's auth secret.

A pid file holds more than the pid: also the process's start time (clock ticks after boot,
field 22 of `/proc/<pid>/stat`) and the boot id. A pid that the kernel recycled for another
program has another start time, so `down` never signals it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from .config import ARGILLA_SERVER_VERSION, SERVER_REQUIREMENTS, Settings
from .output import LauncherError

PROC_ROOT = Path("/proc")
LOCK_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as it was when started: `start_time` tells a recycled pid apart.

    `start_time` is None only for a bare-number pid file left by the old bash launcher;
    such a process is recognised by its command line instead. `group_leader`: it was
    started in its own session, so its pid is also the id of the group to stop."""

    pid: int
    start_time: Optional[int]
    boot_id: str
    group_leader: bool = True


def current_boot_id(proc_root: Path = PROC_ROOT) -> str:
    # Start times count from boot, so they only identify a process within one boot.
    try:
        return (proc_root / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def write_text_atomically(path: Path, text: str, mode: Optional[int] = None) -> None:
    """Readers see the old content or the new one, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}~")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary_name, mode if mode is not None else 0o644)
        os.replace(temporary_name, path)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise


def write_pid_file(path: Path, identity: ProcessIdentity) -> None:
    write_text_atomically(path, json.dumps(asdict(identity)) + "\n")


def read_pid_file(path: Path) -> Optional[ProcessIdentity]:
    """The identity in `path`, or None when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if text.isdigit():
        return ProcessIdentity(pid=int(text), start_time=None, boot_id="")
    try:
        fields = json.loads(text)
        return ProcessIdentity(
            pid=int(fields["pid"]),
            start_time=int(fields["start_time"]),
            boot_id=str(fields["boot_id"]),
            group_leader=bool(fields.get("group_leader", True)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def read_bare_pid(path: Path) -> Optional[int]:
    """A pid file in the usual one-number format (the one OpenSearch writes)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def read_stamp(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def write_stamp(path: Path, text: str) -> None:
    write_text_atomically(path, text)


def venv_fingerprint() -> str:
    # Same text as the bash launcher wrote, so existing venvs stay valid.
    return " ".join(SERVER_REQUIREMENTS)


def setup_fingerprint(settings: Settings) -> str:
    """What the database setup depends on, hashed so the stamp shows no credentials.

    The same text the bash launcher wrote (`printf '%s\\n' ... | sha256sum | cut -c1-16`), so
    an existing database isn't set up again."""
    credentials = "".join(
        f"{value}\n"
        for value in (settings.username, settings.password, settings.api_key, settings.workspace)
    )
    digest = hashlib.sha256(credentials.encode("utf-8")).hexdigest()[:16]
    return f"{ARGILLA_SERVER_VERSION} {digest}"


def ensure_auth_secret(path: Path) -> str:
    """The server's session signing key, fixed per state dir so that web UI sessions
    survive a restart."""
    existing = read_stamp(path)
    if existing and existing.strip():
        return existing.strip()
    secret = secrets.token_hex(32)
    write_text_atomically(path, secret, mode=0o600)
    return secret


@contextmanager
def state_lock(
    path: Path,
    timeout_seconds: float = LOCK_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """An exclusive `flock` on `path`, so that two `up`/`down` runs never overlap.

    The descriptor is close-on-exec, so the services started meanwhile don't inherit it
    and the lock ends with this process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = clock() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise LauncherError(
                        f"another argilla-local is busy with {path.parent}"
                    ) from None
                sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
