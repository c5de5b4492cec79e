"""Files prepared on first use: several processes at once, leftovers of killed ones."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distilabel_selfinstruct.files import (
    DirectoryBusyError,
    atomic_write_text,
    directory_lock,
    file_sha256,
    prepare_file,
)

CONTENT = b"x" * 1_000_000


def _slow_build(path: Path) -> None:
    # Written in pieces with pauses, so a reader racing the builder would see a part.
    with path.open("wb") as handle:
        for start in range(0, len(CONTENT), 100_000):
            handle.write(CONTENT[start : start + 100_000])
            handle.flush()
            time.sleep(0.02)
    with (path.parent / "builds.log").open("a") as log:
        log.write(f"{os.getpid()}\n")


def _is_valid(path: Path) -> bool:
    return path.read_bytes() == CONTENT


def _prepare(target: str) -> int:
    path = prepare_file(Path(target), _slow_build, _is_valid)
    return len(path.read_bytes())


def test_processes_preparing_at_once_build_once_and_all_get_the_whole_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "cache" / "model.bin"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        sizes = pool.map(_prepare, [str(target)] * 4)
    assert sizes == [len(CONTENT)] * 4
    assert len((tmp_path / "cache" / "builds.log").read_text().split()) == 1
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_corrupt_file_and_a_killed_builders_temporary_are_replaced(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(CONTENT[:1000])  # cut short, as by a crash in an older version
    leftover = tmp_path / ".model.bin~abc123de.tmp"
    other = tmp_path / ".model.bin.x~abc123de.tmp"  # another target's, under another lock
    other.write_bytes(b"theirs")
    leftover.write_bytes(b"half")
    prepare_file(target, _slow_build, _is_valid)
    assert target.read_bytes() == CONTENT
    assert not leftover.exists()
    assert other.exists()


def test_a_valid_file_is_not_rebuilt(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(CONTENT)

    def build(_: Path) -> None:
        raise AssertionError("rebuilt a valid file")

    assert prepare_file(target, build, _is_valid) == target


def test_a_build_that_fails_its_check_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    with pytest.raises(ValueError, match="invalid file"):
        prepare_file(target, lambda path: path.write_bytes(b"wrong"), _is_valid)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_prepared_files_get_the_usual_mode_not_mkstemps_private_one(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    prepare_file(target, _slow_build, _is_valid)
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]


def test_sha256_is_cached_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFINSTRUCT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    first = file_sha256(path)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert len(list((tmp_path / "cache" / "sha256").iterdir())) == 1
    path.write_bytes(b"abcd")  # new size (and mtime): the cached value must not be used
    assert file_sha256(path) == file_sha256(path, use_cache=False) != first


def test_a_directory_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with directory_lock(tmp_path):
        with pytest.raises(DirectoryBusyError, match="is working in it"):
            with directory_lock(tmp_path):
                pass
        # Another process sees it too.
        script = (
            "import sys; from pathlib import Path\n"
            "from distilabel_selfinstruct.files import directory_lock, DirectoryBusyError\n"
            "try:\n    with directory_lock(Path(sys.argv[1])): print('got it')\n"
            "except DirectoryBusyError: print('busy')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True
        )
        assert result.stdout.strip() == "busy", result.stderr
    with directory_lock(tmp_path):  # released
        pass
    assert list(tmp_path.iterdir()) == []  # no lock file added
