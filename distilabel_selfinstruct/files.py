"""Files prepared on first use, safely when several processes do it at once.

Every LLM stage of a pipeline runs in its own process and loads at the same moment, so
anything one of them prepares on a fresh machine (the assembled default GGUF, a cached
checksum) is prepared by all of them together. The rule here: build into a unique temporary
file beside the target, under an exclusive lock, check it, then rename it into place
atomically. A reader therefore sees either no file or a whole one; a file left corrupt by a
killed process (or by an older version of this package) fails its check and is rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

CACHE_ENV = "SELFINSTRUCT_CACHE_DIR"


def cache_dir() -> Path:
    """Where the package keeps what it prepares: `$SELFINSTRUCT_CACHE_DIR`, else
    `$XDG_CACHE_HOME/distilabel-selfinstruct`, else `~/.cache/distilabel-selfinstruct`."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distilabel-selfinstruct"


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive `flock` on `path` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DirectoryBusyError(Exception):
    """Another process holds the directory's lock (one line)."""


# A child process that works in a directory whose lock its parent holds (the command line's
# supervisor and its pipeline process) names the inherited descriptor here.
HELD_LOCK_ENV = "SELFINSTRUCT_HELD_DIRECTORY_LOCK"


def _inherited_lock(directory: Path) -> Optional[int]:
    """The descriptor of `directory`'s lock this process inherited from its parent
    (`HELD_LOCK_ENV`), if it refers to that very directory."""
    value = os.environ.get(HELD_LOCK_ENV, "")
    if not value.isdigit():
        return None
    try:
        held, wanted = os.fstat(int(value)), os.stat(directory)
    except OSError:
        return None
    return int(value) if (held.st_dev, held.st_ino) == (wanted.st_dev, wanted.st_ino) else None


@contextmanager
def directory_lock(
    directory: Optional[Path], what: str = "another selfinstruct command"
) -> Iterator[Optional[int]]:
    """Holds an exclusive, non-blocking `flock` on the directory itself for the block (no
    file is added to it) and yields its descriptor, which a child process may inherit to
    work under the same lock (`HELD_LOCK_ENV`). A directory that does not exist yet (or
    `None`) is not locked (yields `None`); one whose lock this process inherited is
    already held.

    Raises:
        DirectoryBusyError: another process holds it.
    """
    if directory is None or not directory.is_dir():
        yield None
        return
    inherited = _inherited_lock(directory)
    if inherited is not None:
        yield inherited
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DirectoryBusyError(
                f"{directory}: {what} is working in it; wait for it to end (or stop it)"
            ) from None
        yield descriptor
    finally:
        os.close(descriptor)  # releases the lock


def _umask() -> int:
    # Read, not set-and-restore: `os.umask` is process-wide and other threads create files.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}~"


def _temporary_beside(target: Path) -> Path:
    # Same directory, so the final rename never crosses file systems and stays atomic.
    descriptor, name = tempfile.mkstemp(
        dir=target.parent, prefix=_temporary_prefix(target), suffix=".tmp"
    )
    os.close(descriptor)
    # mkstemp makes the file private; what it becomes should have the usual mode.
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def remove_temporaries_of(target: Path) -> None:
    """Deletes the temporaries that writers of `target` killed mid-write left beside it
    (mkstemp's random part is 8 characters: no other target's temporaries match)."""
    for leftover in target.parent.glob(f"{_temporary_prefix(target)}{'?' * 8}.tmp"):
        leftover.unlink(missing_ok=True)


def write_beside(path: Path, text: str) -> Path:
    """Writes `text` into a new temporary file beside `path` and returns it; the caller
    renames it into place (`os.replace`) or deletes it. Lets several files be written in
    full before any of them replaces its old version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(path)
    try:
        temporary.write_text(text, encoding="utf-8")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def atomic_write_text(path: Path, text: str) -> None:
    """Writes `text` to `path` so that readers see the old file or the new one, never a part."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic_write_text` for bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(path)
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def prepare_file(
    target: Path, build: Callable[[Path], None], is_valid: Callable[[Path], bool]
) -> Path:
    """Returns `target` once it holds a valid file, building it if needed.

    Args:
        target: the file to provide.
        build: writes the content into the path it is given (a fresh temporary file).
        is_valid: whether a file at a path is complete and correct.

    Raises:
        ValueError: the freshly built file does not pass `is_valid`.
    """
    if target.is_file() and is_valid(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(target.with_name(f".{target.name}.lock")):
        # Another process may have finished it while this one waited for the lock.
        if target.is_file() and is_valid(target):
            return target
        # Temporaries of processes killed while building: only the lock holder builds.
        remove_temporaries_of(target)
        temporary = _temporary_beside(target)
        try:
            build(temporary)
            if not is_valid(temporary):
                raise ValueError(f"preparing {target} produced an invalid file")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    return target


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path, *, use_cache: bool = True) -> str:
    """The sha256 of a file, remembered per (path, size, mtime, inode) in the cache dir.

    Hashing a multi-GB GGUF takes seconds and every LLM stage checks its model at load, so
    a file that has not changed since it was last hashed is not read again.
    """
    path = Path(path).resolve()
    if not use_cache:
        return _hash_file(path)
    stat = path.stat()
    key = [str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino]
    entry = cache_dir() / "sha256" / (hashlib.sha1(str(path).encode()).hexdigest() + ".json")
    cached = _read_json(entry)
    if cached is not None and cached.get("key") == key and isinstance(cached.get("sha256"), str):
        return cached["sha256"]
    digest = _hash_file(path)
    try:
        atomic_write_text(entry, json.dumps({"key": key, "sha256": digest}))
    except OSError:
        pass  # a read-only cache only costs the next caller a re-hash
    return digest


def _read_json(path: Path) -> Optional[dict]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
