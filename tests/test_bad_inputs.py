"""The bad-input matrix of the `selfinstruct` command: every way a user (or a damaged disk)
can hand it something wrong, run as the real command in a subprocess.

Each case asserts the command's contract for a failure:

- the exit code: 2 for bad input (an argument, a file given, a run directory of another
  run, a target below what is finished), 1 for a failure while running (an unreachable or
  refusing LLM server, a damaged pool, an export that would replace data with less, a
  write that fails);
- stderr is exactly one line, `selfinstruct: ...`, naming the argument, file or server;
- no traceback anywhere;
- a run directory that was there before is untouched (every file's bytes and mtime, and
  no file added or removed).

No case needs a model: the run directory is built with the Python API (seeds, three finished
tasks, the run's identity) and exported once by the real `selfinstruct export`; `generate`
cases either fail before the LLM is touched or point at a closed port / tests/fake_openai.py.

Speed: a cold `python -m distilabel_selfinstruct.cli` spends about 2.5 s of CPU importing
distilabel before it parses an argument, which over 70 cases is minutes. So most cases run
in a *warm* subprocess: a helper interpreter imports the command's modules once, then forks
one child per case that runs the module exactly as `python -m` does
(`runpy.run_module(..., run_name="__main__", alter_sys=True)`) with the case's argv, cwd,
environment and stdout/stderr files, and exits with the command's exit code. The helper
checks that those imports print nothing (what a cold start would show on stderr). Cases
marked `cold` always run as `[sys.executable, "-m", "distilabel_selfinstruct.cli", ...]`;
`SELFINSTRUCT_BAD_INPUTS_COLD=1` runs every case that way.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.faults import fake_server

COMMAND = [sys.executable, "-m", "distilabel_selfinstruct.cli"]
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120
FINISHED = 3  # finished tasks in the prepared run
CLOSED_PORT = "http://127.0.0.1:1/v1"
# Added to `generate` cases that must fail before the LLM: if the check they are about were
# missing, the command ends at the (closed) server in a second instead of running a model.
NO_LLM = ("--base-url", CLOSED_PORT, "--model", "m")


# -- running the command: cold (`python -m`) or warm (forked from a pre-imported helper) -----

COLD_ONLY = os.environ.get("SELFINSTRUCT_BAD_INPUTS_COLD") == "1"

# The helper: imports what `python -m distilabel_selfinstruct.cli` imports, then serves one
# JSON request per line on stdin: forks a child that runs the module as `__main__`.
WARM_HELPER = r"""
import atexit, json, os, runpy, sys, traceback

sys.argv = ["-m"]
import distilabel_selfinstruct
import distilabel_selfinstruct.cli as cli
cli.build_parser()  # the argilla subcommands' imports too
import distilabel_selfinstruct.pipeline_yaml, distilabel_selfinstruct.verify
# `python -m` runs the module fresh as __main__; runpy warns if it is already imported.
del cli
del sys.modules["distilabel_selfinstruct.cli"]
if hasattr(distilabel_selfinstruct, "cli"):
    delattr(distilabel_selfinstruct, "cli")

def child(request):
    code = 1
    try:
        os.setsid()  # a process group of its own, so a timeout can kill what it started
        for fd, name, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(name, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["-m", *request["args"]]
        try:
            runpy.run_module("distilabel_selfinstruct.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exit:
            if exit.code is None:
                code = 0
            elif isinstance(exit.code, int):
                code = exit.code
            else:
                print(exit.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF)

print("READY", flush=True)
for text in sys.stdin:
    request = json.loads(text)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(request)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class WarmCommand:
    """The helper process and the channel to it."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.startup_stderr = directory / "helper.stderr"
        with self.startup_stderr.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WARM_HELPER],
                cwd=directory,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self.lines.get(timeout=TIMEOUT_S)
        assert ready == "READY\n", f"{ready!r} {self.startup_stderr.read_text()}"
        # What importing the command prints, a cold start would print on every run.
        assert self.startup_stderr.read_text() == "", self.startup_stderr.read_text()
        self.count = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            self.lines.put(text)
        self.lines.put("")

    def run(self, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
        self.count += 1
        out = self.directory / f"case-{self.count}.stdout"
        err = self.directory / f"case-{self.count}.stderr"
        request = {
            "args": args,
            "cwd": str(cwd),
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
        }
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        pid = json.loads(self.lines.get(timeout=30))["pid"]
        try:
            reply = self.lines.get(timeout=TIMEOUT_S)
        except queue.Empty:
            os.killpg(pid, signal.SIGKILL)  # the child and whatever it started
            self.lines.get(timeout=30)
            raise subprocess.TimeoutExpired([*COMMAND, *args], TIMEOUT_S) from None
        code = json.loads(reply)["code"]
        return subprocess.CompletedProcess(
            [*COMMAND, *args],
            code,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_cold(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


# -- the prepared run directory, built once -------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    run: Path  # a run directory: pool.sqlite (3 finished tasks) and its real exports
    pipeline_yaml: Path  # a good saved pipeline (scripted LLM)
    cache: Path  # DISTILABEL_CACHE_DIR / HF_HOME of the subprocesses


def _environment(cache: Path, api_key: bool = True) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISTILABEL_CACHE_DIR": str(cache / "distilabel"),
        "HF_HOME": str(cache / "hf"),
        "OPENAI_API_KEY": "sk-bad-input-suite",
    }
    if not api_key:
        env.pop("OPENAI_API_KEY")
    return env


def _checkpoint(pool: Path) -> None:
    """Everything in the main file, no -wal/-shm beside it."""
    connection = sqlite3.connect(pool)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    from distilabel_selfinstruct.bootstrap.run import BootstrapRun
    from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
    from distilabel_selfinstruct.pool import candidate_id_for, open_pool_store
    from distilabel_selfinstruct.seeds import load_seed_tasks, seed_paths
    from distilabel_selfinstruct.testing import ScriptedLLM

    base = tmp_path_factory.mktemp("bad-inputs")
    cache = base / "cache"
    run = base / "run"
    pool = pool_path_for(run)
    seeds = load_seed_tasks(seed_paths(None))
    with open_pool_store(pool) as store:
        store.add_seeds(seeds)
        records = []
        for number in range(FINISHED):
            instruction = f"Write a limerick about prepared task number {number}."
            task_id = store.accept(
                candidate_id=candidate_id_for("prepared", number, instruction),
                instruction=instruction,
                bootstrap_round=1,
                rouge_l_max=0.1,
                most_similar_task_id=None,
            )
            records.append(
                {
                    "task_id": task_id,
                    "instruction": instruction,
                    "instances": [{"input": "", "output": f"limerick {number}"}],
                    "is_classification": False,
                }
            )
        assert store.complete(records) == FINISHED
        BootstrapRun(pool_path=str(pool), num_instructions=10).claim(store, seeds)
    _checkpoint(pool)
    exported = subprocess.run(
        [*COMMAND, "export", "--output", "run"],
        cwd=base,
        env=_environment(cache),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert exported.returncode == 0, exported.stderr
    assert len((run / "self_instruct.jsonl").read_text().splitlines()) == FINISHED
    assert not list(run.glob("pool.sqlite-*")), "the export left WAL files behind"

    pipeline_yaml = base / "pipeline.yaml"
    build_pipeline(llm=ScriptedLLM(), output_dir=base / "yaml-run", num_instructions=3).save(
        pipeline_yaml, format="yaml"
    )
    return Prepared(run=run, pipeline_yaml=pipeline_yaml, cache=cache)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory, prepared: Prepared):
    if COLD_ONLY:
        yield None
        return
    helper = WarmCommand(tmp_path_factory.mktemp("warm"), _environment(prepared.cache))
    try:
        yield helper
    finally:
        helper.close()


# -- what a case sets up ---------------------------------------------------------------------


@dataclass
class Context:
    tmp: Path  # the command's working directory
    prepared: Prepared

    @property
    def run(self) -> Path:
        return self.tmp / "run"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def good_yaml(self) -> str:
        return self.prepared.pipeline_yaml.read_text(encoding="utf-8")


Setup = Callable[[Context], None]


def seed(**changes) -> dict:
    task = {
        "id": "seed_1",
        "name": "seed_1",
        "instruction": "Add the two numbers.",
        "instances": [{"input": "2 3", "output": "5"}],
        "is_classification": False,
    }
    task.update(changes)
    return {key: value for key, value in task.items() if value is not ...}


def line(task: dict) -> str:
    return json.dumps(task, ensure_ascii=False) + "\n"


def write(name: str, content: str | bytes) -> Setup:
    return lambda c: c.write(name, content) and None


def mkdir(name: str) -> Setup:
    return lambda c: (c.tmp / name).mkdir(parents=True)


def both(*setups: Setup) -> Setup:
    def run_all(c: Context) -> None:
        for setup in setups:
            setup(c)

    return run_all


GOOD_SEEDS = write("good.jsonl", line(seed()) + line(seed(id="seed_2", instruction="Sort it.")))


def zero_byte_pool(c: Context) -> None:
    (c.run / "pool.sqlite").write_bytes(b"")


def garbage_pool(c: Context) -> None:
    (c.run / "pool.sqlite").write_bytes(b"this is not a SQLite database\n" * 400)


def truncated_pool(c: Context) -> None:
    pool = c.run / "pool.sqlite"
    _checkpoint(pool)
    size = pool.stat().st_size
    with pool.open("r+b") as handle:
        handle.truncate(size // 2)


def no_exports(c: Context) -> None:
    for name in ("self_instruct.jsonl", "alpaca.json", "summary.json"):
        (c.run / name).unlink()
    shutil.rmtree(c.run / "distiset")


def pool_lost_a_task(c: Context) -> None:
    pool = c.run / "pool.sqlite"
    connection = sqlite3.connect(pool)
    try:
        with connection:
            connection.execute("DELETE FROM completed WHERE seq = (SELECT MAX(seq) FROM completed)")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def official_export_is_a_directory(c: Context) -> None:
    (c.run / "self_instruct.jsonl").unlink()
    (c.run / "self_instruct.jsonl").mkdir()


def yaml_from_good(name: str, edit: Callable[[str], str]) -> Setup:
    return lambda c: c.write(name, edit(c.good_yaml())) and None


def cut_in_half(text: str) -> str:
    return text[: len(text) // 2]


def unknown_class(text: str) -> str:
    assert "name: SplitInstructions" in text
    return text.replace("name: SplitInstructions", "name: NoSuchSplitter", 1)


def no_steps(text: str) -> str:
    head, _, rest = text.partition("  steps:\n")
    _, _, tail = rest.partition("  connections:\n")
    return head + "  connections:\n" + tail


def alpaca_export_is_a_directory(c: Context) -> None:
    (c.run / "alpaca.json").unlink()
    (c.run / "alpaca.json").mkdir()


def foreign_sqlite_pool(c: Context) -> None:
    pool = c.run / "pool.sqlite"
    pool.unlink()
    connection = sqlite3.connect(pool)
    try:
        with connection:
            connection.execute("CREATE TABLE notes (text TEXT)")
    finally:
        connection.close()


def pool_is_a_directory(c: Context) -> None:
    (c.run / "pool.sqlite").unlink()
    (c.run / "pool.sqlite").mkdir()


def copy_good_yaml(c: Context) -> None:
    shutil.copyfile(c.prepared.pipeline_yaml, c.tmp / "good.yaml")


def yaml_for_the_run(name: str, old: str, new: str) -> Setup:
    """The good pipeline, pointed at ./run (the prepared run), with `old` made `new`."""

    def setup(c: Context) -> None:
        text = c.good_yaml()
        pool = str(c.prepared.pipeline_yaml.parent / "yaml-run" / "pool.sqlite")
        assert pool in text and old in text
        c.write(name, text.replace(pool, str(c.run / "pool.sqlite")).replace(old, new))

    return setup


SYNTAX_ERROR = "pipeline:\n  name: broken\n  steps: [unclosed\n  connections: []\n"
BROKEN_YAMLS: dict[str, tuple[Optional[Setup], str]] = {
    # id: (setup, the file name the message must name)
    "missing-file": (None, "missing.yaml"),
    "yaml-syntax-error": (write("syntax.yaml", SYNTAX_ERROR), "syntax.yaml"),
    "yaml-without-steps": (yaml_from_good("nosteps.yaml", no_steps), "nosteps.yaml"),
    "yaml-cut-short": (yaml_from_good("cut.yaml", cut_in_half), "cut.yaml"),
    "yaml-unknown-step-class": (yaml_from_good("unknown.yaml", unknown_class), "unknown.yaml"),
    "yaml-run-target-0": (
        yaml_from_good(
            "zero.yaml", lambda text: text.replace("num_instructions: 3", "num_instructions: 0")
        ),
        "zero.yaml",
    ),
    "is-a-directory": (mkdir("adir.yaml"), "adir.yaml"),
}


# -- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    names: tuple[str, ...]  # what the stderr line must mention ("{url}": the server's URL)
    setup: Optional[Setup] = None
    run_dir: bool = False  # a copy of the prepared run at ./run, checked untouched
    server: Optional[str] = None  # tests/fake_openai.py --mode; "{url}" in args is its URL
    api_key: bool = True
    may_change: tuple[str, ...] = field(default=())  # run-dir paths allowed to change
    cold: bool = False  # always run as a fresh `python -m` (see the module docstring)


def case(
    id: str, *args: str, code: int, names: str | tuple[str, ...], marks=(), **options
) -> pytest.param:  # type: ignore[valid-type]
    names = (names,) if isinstance(names, str) else names
    return pytest.param(Case(tuple(args), code, names, **options), id=id, marks=marks)


GEN = "generate"
RUN = ("--output", "run")

# fmt: off
CASES = [
    # -- arguments ---------------------------------------------------------------------------
    case("generate-num-instructions-0", GEN, "--num-instructions", "0", code=2,
         names="--num-instructions", cold=True),
    case("generate-num-instructions-negative", GEN, "--num-instructions", "-5", code=2,
         names="--num-instructions"),
    case("generate-num-instructions-abc", GEN, "--num-instructions", "abc", code=2,
         names=("--num-instructions", "abc")),
    case("generate-batch-size-0", GEN, "--batch-size", "0", code=2, names="--batch-size"),
    case("generate-num-instances-0", GEN, "--num-instances", "0", code=2,
         names="--num-instances"),
    case("generate-rouge-threshold-negative", GEN, "--rouge-threshold", "-1", code=2,
         names="--rouge-threshold"),
    case("generate-rouge-threshold-1.5", GEN, "--rouge-threshold", "1.5", code=2,
         names="--rouge-threshold"),
    case("generate-rouge-threshold-abc", GEN, "--rouge-threshold", "abc", code=2,
         names=("--rouge-threshold", "abc")),
    case("generate-max-seed-line-bytes-0", GEN, "--max-seed-line-bytes", "0", code=2,
         names="--max-seed-line-bytes"),
    case("generate-num-instructions-without-value", GEN, "--num-instructions", code=2,
         names="--num-instructions"),
    case("generate-seed-abc", GEN, "--seed", "abc", code=2, names=("--seed", "abc")),
    case("generate-prompt-style-unknown", GEN, "--prompt-style", "poem", code=2,
         names=("--prompt-style", "poem")),
    case("generate-unknown-option", GEN, "--frobnicate", code=2, names="--frobnicate"),
    case("generate-topics-missing", GEN, "--topics", "nosuch.txt", code=2,
         names=("--topics", "nosuch.txt")),
    case("generate-semantic-threshold-2", GEN, "--semantic-threshold", "2", code=2,
         names="--semantic-threshold"),
    case("generate-one-instruction-model", GEN, "--instruction-models", "default", code=2,
         names="--instruction-models"),
    case("generate-instruction-model-without-server", GEN, "--instruction-models", "default",
         "gpt-x", code=2, names=("--instruction-models", "gpt-x", "--base-url")),
    case("generate-instruction-model-bad-weight", GEN, "--instruction-models", "default=0",
         "default", code=2, names=("--instruction-models", "default=0")),
    case("generate-instruction-model-gguf", GEN, "--instruction-models", "default",
         "other.gguf", code=2, names=("--instruction-models", "other.gguf")),
    case("generate-mix-instances-alone", GEN, "--mix-instances", code=2,
         names=("--mix-instances", "--instruction-models")),
    case("missing-subcommand", code=2, names="command"),
    case("unknown-subcommand", "frobnicate", code=2, names="frobnicate"),
    case("run-without-config", "run", code=2, names="--config"),
    # -- seed files (given into an existing run: it must stay as it was) --------------------
    case("seeds-directory", GEN, *RUN, *NO_LLM, "--seeds", "seeddir", code=2,
         names=("seeddir", "directory"), setup=mkdir("seeddir"), run_dir=True),
    case("seeds-missing-file", GEN, *RUN, *NO_LLM, "--seeds", "missing.jsonl", code=2,
         names=("missing.jsonl", "not found"), run_dir=True),
    case("seeds-empty-file", GEN, *RUN, *NO_LLM, "--seeds", "empty.jsonl", code=2,
         names=("empty.jsonl", "no seed tasks"), setup=write("empty.jsonl", ""), run_dir=True),
    case("seeds-not-json", GEN, *RUN, *NO_LLM, "--seeds", "bad.jsonl", code=2,
         names=("bad.jsonl:2", "invalid JSON"),
         setup=write("bad.jsonl", line(seed()) + "this is not json\n"), run_dir=True,
         cold=True),
    case("seeds-json-array-line", GEN, *RUN, *NO_LLM, "--seeds", "array.jsonl", code=2,
         names=("array.jsonl:1", "JSON object"),
         setup=write("array.jsonl", json.dumps([seed()]) + "\n"), run_dir=True),
    case("seeds-missing-key", GEN, *RUN, *NO_LLM, "--seeds", "nokey.jsonl", code=2,
         names=("nokey.jsonl:1", "is_classification"),
         setup=write("nokey.jsonl", line(seed(is_classification=...))), run_dir=True),
    case("seeds-wrong-type", GEN, *RUN, *NO_LLM, "--seeds", "type.jsonl", code=2,
         names=("type.jsonl:1", "instances"),
         setup=write("type.jsonl", line(seed(instances="2 3 -> 5"))), run_dir=True),
    case("seeds-instance-without-output", GEN, *RUN, *NO_LLM, "--seeds", "inst.jsonl", code=2,
         names=("inst.jsonl:1", "output"),
         setup=write("inst.jsonl", line(seed(instances=[{"input": "2 3"}]))), run_dir=True),
    case("seeds-utf8-bom", GEN, *RUN, *NO_LLM, "--seeds", "bom.jsonl", code=2,
         names="bom.jsonl:1",
         setup=write("bom.jsonl", b"\xef\xbb\xbf" + line(seed()).encode()), run_dir=True),
    case("seeds-latin1-bytes", GEN, *RUN, *NO_LLM, "--seeds", "latin1.jsonl", code=2,
         names=("latin1.jsonl", "UTF-8"),
         setup=write("latin1.jsonl", line(seed(instruction="Traduire « café »")).encode(
             "latin-1")),
         run_dir=True),
    case("seeds-duplicate-ids", GEN, *RUN, *NO_LLM, "--seeds", "dup.jsonl", code=2,
         names=("dup.jsonl:2", "seed_1"),
         setup=write("dup.jsonl", line(seed()) + line(seed(instruction="Other."))),
         run_dir=True),
    case("seeds-second-file-bad", GEN, *RUN, *NO_LLM, "--seeds", "good.jsonl", "bad.jsonl",
         code=2, names="bad.jsonl:1",
         setup=both(GOOD_SEEDS, write("bad.jsonl", "{not json\n")), run_dir=True),
    case("seeds-line-over-max-seed-line-bytes", GEN, *RUN, *NO_LLM, "--seeds", "long.jsonl",
         "--max-seed-line-bytes", "100", code=2,
         names=("long.jsonl:1", "--max-seed-line-bytes"),
         setup=write("long.jsonl", line(seed(instruction="Summarize this. " * 20))),
         run_dir=True),
    # -- the run directory and the model ---------------------------------------------------
    case("generate-output-is-a-file", GEN, *NO_LLM, "--output", "afile", code=2,
         names="afile", setup=write("afile", "not a directory\n")),
    case("generate-model-path-missing", GEN, *RUN, "--model-path", "nomodel.gguf", code=2,
         names="--model-path nomodel.gguf", run_dir=True),
    case("generate-model-path-directory", GEN, *RUN, "--model-path", "models", code=2,
         names=("--model-path models", "directory"), setup=mkdir("models"), run_dir=True),
    case("generate-model-path-not-gguf", GEN, *RUN, "--model-path", "model.bin", code=2,
         names=("--model-path model.bin", "GGUF"),
         setup=write("model.bin", b"PK\x03\x04 not a model" * 10), run_dir=True),
    case("generate-base-url-not-http", GEN, *RUN, "--base-url", "ftp://127.0.0.1/v1",
         code=2, names="--base-url ftp://127.0.0.1/v1", run_dir=True),
    case("generate-base-url-without-api-key", GEN, *RUN, *NO_LLM, code=2,
         names="OPENAI_API_KEY", run_dir=True, api_key=False),
    case("generate-base-url-closed-port", GEN, *RUN, *NO_LLM, code=1, names=CLOSED_PORT,
         run_dir=True),
    case("generate-server-401", GEN, *RUN, "--base-url", "{url}", "--model", "fake", code=1,
         names=("{url}", "401"), server="unauthorized", run_dir=True),
    case("generate-server-500", GEN, *RUN, "--base-url", "{url}", "--model", "fake", code=1,
         names=("{url}", "500"), server="error500", run_dir=True),
    case("generate-save-yaml-into-missing-directory", GEN, *RUN, "--base-url", "{url}",
         "--model", "fake", "--save-yaml", "nodir/pipeline.yaml", code=2,
         names="nodir/pipeline.yaml", server="ok", run_dir=True),
    # -- a run directory of another run ----------------------------------------------------
    case("generate-other-seeds-into-existing-run", GEN, *RUN, *NO_LLM, "--seeds", "good.jsonl",
         code=2, names=("run/pool.sqlite", "seed"), setup=GOOD_SEEDS, run_dir=True),
    case("generate-other-rouge-threshold-into-existing-run", GEN, *RUN, *NO_LLM,
         "--rouge-threshold", "0.5", code=2, names=("run/pool.sqlite", "rouge_threshold"),
         run_dir=True),
    case("generate-target-below-finished", GEN, *RUN, *NO_LLM, "--num-instructions",
         str(FINISHED - 1), code=2, names=("run", str(FINISHED)), run_dir=True),
    # -- a damaged pool --------------------------------------------------------------------
    *[
        case(f"{command}-{damage_id}-pool", command, *RUN, *(NO_LLM if command == GEN else ()),
             code=1, names="run/pool.sqlite", setup=damage, run_dir=True,
             cold=(command, damage_id) == ("summary", "garbage"))
        for command in ("summary", "export", "verify", GEN)
        for damage_id, damage in (
            ("zero-byte", zero_byte_pool),
            ("garbage", garbage_pool),
            ("truncated", truncated_pool),
            ("foreign-sqlite", foreign_sqlite_pool),
        )
    ],
    case("summary-pool-is-a-directory", "summary", *RUN, code=1, names="run/pool.sqlite",
         setup=pool_is_a_directory, run_dir=True),
    # A pool created and killed before its first write, and nothing exported: generate
    # starts afresh (removing the empty file), then stops at the closed server.
    case("generate-zero-byte-pool-without-exports-starts-afresh", GEN, *RUN, *NO_LLM, code=1,
         names=CLOSED_PORT, setup=both(no_exports, zero_byte_pool), run_dir=True,
         may_change=("pool.sqlite",)),
    case("summary-no-run-directory", "summary", "--output", "nowhere", code=2,
         names="nowhere"),
    case("export-no-run-directory", "export", "--output", "nowhere", code=2, names="nowhere"),
    case("export-output-is-a-file", "export", "--output", "afile", code=2, names="afile",
         setup=write("afile", "not a directory\n")),
    case("verify-no-run-directory", "verify", "--output", "nowhere", code=2, names="nowhere",
         ),
    # -- exports that would lose data, or cannot be written ----------------------------------
    case("export-pool-has-fewer-tasks-than-the-export", "export", *RUN, code=1,
         names=("run/self_instruct.jsonl", str(FINISHED)), setup=pool_lost_a_task,
         run_dir=True),
    case("export-official-file-is-a-directory", "export", *RUN, code=1,
         names="run/self_instruct.jsonl", setup=official_export_is_a_directory, run_dir=True),
    case("export-alpaca-file-is-a-directory", "export", *RUN, code=1,
         names="run/alpaca.json", setup=alpaca_export_is_a_directory, run_dir=True),
    # -- pipeline YAMLs --------------------------------------------------------------------
    *[
        case(f"run-config-{yaml_id}", "run", "--config", path, code=2, names=path,
             setup=setup)
        for yaml_id, (setup, path) in BROKEN_YAMLS.items()
    ],
    case("run-config-param-malformed", "run", "--config", "good.yaml", "--param", "no-equals",
         code=2, names="no-equals", setup=copy_good_yaml),
    case("run-config-of-another-run", "run", "--config", "other.yaml", code=2,
         names=("run/pool.sqlite", "rouge_threshold"), run_dir=True,
         setup=yaml_for_the_run("other.yaml", "rouge_threshold: 0.7", "rouge_threshold: 0.5")),
    case("run-config-target-below-finished", "run", "--config", "small.yaml", code=2,
         names=("run", str(FINISHED)), run_dir=True,
         setup=yaml_for_the_run("small.yaml", "num_instructions: 3",
                                f"num_instructions: {FINISHED - 1}")),
    *[
        case(f"check-config-{yaml_id}", "check", "--config", path, code=2, names=path,
             setup=setup)
        for yaml_id, (setup, path) in BROKEN_YAMLS.items()
    ],
    case("check-config-good-yaml-is-ok", "check", "--config", "good.yaml", code=0,
         names="good.yaml: ok", setup=copy_good_yaml, cold=True),
]
# fmt: on


# -- the check -------------------------------------------------------------------------------


def snapshot(directory: Path) -> dict[str, tuple]:
    """Every file (bytes, mtime) and directory under `directory`."""
    state: dict[str, tuple] = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_dir():
            state[name] = ("dir",)
        else:
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[name] = (info.st_size, info.st_mtime_ns, digest)
    return state


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_is_one_line_with_the_right_exit_code(
    bad: Case, tmp_path: Path, prepared: Prepared, warm: Optional[WarmCommand]
) -> None:
    context = Context(tmp=tmp_path, prepared=prepared)
    if bad.run_dir:
        shutil.copytree(prepared.run, context.run, copy_function=shutil.copy2)
    if bad.setup is not None:
        bad.setup(context)
    before = snapshot(context.run) if bad.run_dir else None
    with ExitStack() as stack:
        url = stack.enter_context(fake_server(bad.server)) if bad.server else ""
        args = [arg.replace("{url}", url) for arg in bad.args]
        run = run_cold if warm is None or bad.cold else warm.run
        result = run(args, tmp_path, _environment(prepared.cache, api_key=bad.api_key))
    shown = f"exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    print(shown)  # in the report of a failure (and with -rP)
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.returncode == bad.code, shown
    lines = result.stderr.splitlines()
    if bad.code == 0:
        assert lines == [], shown
        for name in bad.names:
            assert name in result.stdout, shown
    else:
        assert len(lines) == 1, shown
        assert lines[0].startswith("selfinstruct: "), shown
        for name in bad.names:
            assert name.replace("{url}", url) in lines[0], shown
    if before is not None:
        after = snapshot(context.run)
        for name in bad.may_change:
            before.pop(name, None)
            after.pop(name, None)
        changed = sorted(
            name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
        )
        assert not changed, f"the run directory changed: {changed}\n{shown}"
