"""LLM server failures: which errors `server_failure` blames on the server, how an LLM task
records one (meta `LLM_FAILURE`) instead of counting it, and how the generator then ends
the run (`STOP_REASON`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import httpx
import openai
import pytest
from pydantic import PrivateAttr

from distilabel_selfinstruct import llm_failures
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stop import LLM_FAILURE, STOP_REASON
from distilabel_selfinstruct.instructions import GenerateInstructions
from distilabel_selfinstruct.llm_failures import server_failure, server_name
from distilabel_selfinstruct.sampling import SampleDemonstrations
from distilabel_selfinstruct.testing import ScriptedLLM

pytestmark = pytest.mark.usefixtures("isolated_env")

URL = "http://localhost:9/v1/completions"
BASE_URL = "http://localhost:9/v1"


def request() -> httpx.Request:
    return httpx.Request("POST", URL)


def status_error(cls: type[openai.APIStatusError], code: int, message: str) -> BaseException:
    return cls(message, response=httpx.Response(code, request=request()), body=None)


class FailingLLM(ScriptedLLM):
    """A scripted LLM whose every `generate` call raises `error`."""

    _error: Optional[BaseException] = PrivateAttr(default=None)

    base_url: Optional[str] = None

    def generate(self, inputs: Any, num_generations: int = 1, **kwargs: Any) -> Any:  # type: ignore[override]
        if self._error is None:
            return super().generate(inputs, num_generations, **kwargs)
        raise self._error


def failing_llm(error: BaseException) -> FailingLLM:
    llm = FailingLLM()
    llm._error = error
    return llm


class Server:
    """Stands for an LLM object: only what `server_name` reads."""

    def __init__(self, base_url: Optional[str] = None, model: Optional[str] = None) -> None:
        self.base_url = base_url
        self.model = model


SERVER = Server(base_url=BASE_URL)


# -- server_name -----------------------------------------------------------------------


def test_server_name_is_the_base_url_when_there_is_one() -> None:
    from distilabel.models.llms import OpenAILLM

    llm = OpenAILLM(model="my-model", base_url=BASE_URL, api_key="not-used")
    assert server_name(llm) == BASE_URL
    assert server_name(Server(base_url=BASE_URL, model="my-model")) == BASE_URL


def test_server_name_falls_back_to_the_class_and_model() -> None:
    assert server_name(Server(model="gemma")) == "Server(gemma)"
    assert server_name(Server(base_url="", model="gemma")) == "Server(gemma)"
    assert server_name(ScriptedLLM()) == "ScriptedLLM"


# -- server_failure --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            status_error(openai.AuthenticationError, 401, "Error code: 401 - invalid key"),
            f"the LLM server {BASE_URL} refused the API key (HTTP 401): check OPENAI_API_KEY",
        ),
        (
            status_error(openai.PermissionDeniedError, 403, "Error code: 403"),
            f"the LLM server {BASE_URL} refused access (HTTP 403): check OPENAI_API_KEY",
        ),
        (
            status_error(openai.NotFoundError, 404, "Error code: 404 - no model gemma\nmore"),
            f"the LLM server {BASE_URL} answered HTTP 404: check --base-url and --model"
            " (Error code: 404 - no model gemma)",
        ),
        (
            status_error(openai.RateLimitError, 429, "Error code: 429"),
            f"the LLM server {BASE_URL} kept rate-limiting the run (HTTP 429) after retries",
        ),
        (
            status_error(openai.InternalServerError, 500, "Error code: 500 - overloaded"),
            f"the LLM server {BASE_URL} failed (HTTP 500) after retries:"
            " Error code: 500 - overloaded",
        ),
        (
            status_error(openai.InternalServerError, 503, "Error code: 503"),
            f"the LLM server {BASE_URL} failed (HTTP 503) after retries: Error code: 503",
        ),
        (
            openai.APIConnectionError(request=request()),
            f"cannot reach the LLM server {BASE_URL} (Connection error.)",
        ),
        (
            openai.APITimeoutError(request=request()),
            f"cannot reach the LLM server {BASE_URL} (Request timed out.)",
        ),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            f"cannot reach the LLM server {BASE_URL} ([Errno 111] Connection refused)",
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            f"cannot reach the LLM server {BASE_URL} ([Errno 111] Connection refused)",
        ),
        (TimeoutError(), f"cannot reach the LLM server {BASE_URL} (TimeoutError)"),
        (
            json.JSONDecodeError("Expecting value", "<html>", 0),
            f"the LLM server {BASE_URL} sent a reply that is not JSON (an OpenAI-compatible API?)",
        ),
    ],
    ids=[
        "401",
        "403",
        "404",
        "429",
        "500",
        "503",
        "api-connection",
        "api-timeout",
        "httpx-connect",
        "connection-refused",
        "timeout",
        "not-json",
    ],
)
def test_server_errors_are_one_line_naming_the_server_and_cause(
    error: BaseException, expected: str
) -> None:
    message = server_failure(error, SERVER)
    assert message == expected
    assert "\n" not in message


@pytest.mark.parametrize(
    "error",
    [
        status_error(openai.BadRequestError, 400, "Error code: 400 - prompt too long"),
        status_error(openai.UnprocessableEntityError, 422, "Error code: 422"),
        ValueError("the prompt is too long"),
        RuntimeError(""),
    ],
    ids=["400", "422", "value-error", "runtime-error"],
)
def test_errors_about_one_request_are_not_server_failures(error: BaseException) -> None:
    assert server_failure(error, SERVER) is None


# -- LLMTask.process: a failing server ------------------------------------------------------

# A row as SampleDemonstrations makes it (GenerateInstructions reads `demonstrations`).
ROWS = [
    {
        "prompt_id": "r0p0",
        "bootstrap_round": 0,
        "demonstrations": ["Name three colors.", "Sort 3, 1, 2."],
        "demonstration_ids": ["seed_task_0", "seed_task_1"],
    }
]


@pytest.fixture
def run(tmp_path: Path) -> BootstrapRun:
    return BootstrapRun(pool_path=str(tmp_path / "pool.sqlite"), num_instructions=3)


def generate_task(error: BaseException, run: Optional[BootstrapRun]) -> GenerateInstructions:
    task = GenerateInstructions(name="generate_instructions", llm=failing_llm(error), run=run)
    task.load()
    return task


def recorded_failure(run: BootstrapRun) -> Optional[str]:
    with run.open_store() as store:
        return store.meta(LLM_FAILURE)


def test_a_server_failure_yields_one_empty_batch_and_records_the_message(
    run: BootstrapRun,
) -> None:
    error = status_error(openai.InternalServerError, 500, "Error code: 500 - down")
    task = generate_task(error, run)
    # The LLM names no server to ask, so a 5xx counts only when it keeps coming.
    for _ in range(llm_failures.CONSECUTIVE_FAILURES - 1):
        with pytest.raises(openai.InternalServerError):
            list(task.process(ROWS))
        assert recorded_failure(run) is None
    assert list(task.process(ROWS)) == [[]]
    assert recorded_failure(run) == (
        "the LLM server FailingLLM failed (HTTP 500) after retries: Error code: 500 - down"
    )


def test_the_first_failure_recorded_is_kept(run: BootstrapRun) -> None:
    task = generate_task(status_error(openai.AuthenticationError, 401, "Error code: 401"), run)
    assert list(task.process(ROWS)) == [[]]  # a refused key counts at once
    first = recorded_failure(run)
    assert first == "the LLM server FailingLLM refused the API key (HTTP 401): check OPENAI_API_KEY"
    task.llm._error = status_error(openai.NotFoundError, 404, "Error code: 404")
    assert list(task.process(ROWS)) == [[]]
    assert recorded_failure(run) == first


@pytest.mark.parametrize(
    "error",
    [
        status_error(openai.BadRequestError, 400, "Error code: 400 - prompt too long"),
        ValueError("the prompt is too long"),
    ],
    ids=["400", "value-error"],
)
def test_a_per_request_error_is_reraised_and_records_nothing(
    error: BaseException, run: BootstrapRun
) -> None:
    task = generate_task(error, run)
    with pytest.raises(type(error)) as raised:
        list(task.process(ROWS))
    assert raised.value is error
    assert recorded_failure(run) is None


def test_without_run_a_server_failure_is_reraised(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    error = status_error(openai.InternalServerError, 500, "Error code: 500")
    task = generate_task(error, None)
    with pytest.raises(openai.InternalServerError) as raised:
        list(task.process(ROWS))
    assert raised.value is error
    assert list(tmp_path.iterdir()) == []  # no pool store opened anywhere


# -- SampleDemonstrations ends the stream on a recorded failure ------------------------

FAILURE = (
    "the LLM server http://localhost:9/v1 refused the API key (HTTP 401): check OPENAI_API_KEY"
)


@pytest.fixture
def sampler(run: BootstrapRun):
    # A heartbeat on every poll: the test gets control back while the generator waits.
    step = SampleDemonstrations(name="sample", run=run, batch_size=1, poll_s=0.01, heartbeat_s=0)
    step.load()
    yield step
    step.unload()


def set_failure(run: BootstrapRun, message: Optional[str]) -> None:
    with run.open_store() as store:
        store.set_meta(LLM_FAILURE, message)


def test_the_generator_ends_the_stream_when_a_failure_is_recorded_mid_run(
    run: BootstrapRun, sampler: SampleDemonstrations
) -> None:
    stream = sampler.process()
    rows, last = next(stream)
    assert [row["prompt_id"] for row in rows] == ["r0p0"] and last is False
    set_failure(run, FAILURE)
    assert next(stream) == ([], True)
    with pytest.raises(StopIteration):
        next(stream)
    with run.open_store() as store:
        assert store.meta(STOP_REASON) == f"stopped at 0 of 3 tasks: {FAILURE}"


def test_the_generator_clears_a_failure_left_by_an_earlier_invocation(
    run: BootstrapRun, sampler: SampleDemonstrations
) -> None:
    set_failure(run, FAILURE)
    rows, last = next(sampler.process())
    assert len(rows) == 1 and last is False
    assert recorded_failure(run) is None


def test_the_generator_stops_waiting_when_a_failure_is_recorded(
    run: BootstrapRun, sampler: SampleDemonstrations
) -> None:
    stream = sampler.process()
    next(stream)
    # Enough accepted tasks in flight for the target: the generator waits for them.
    with run.open_store() as store:
        for number in range(4):
            store.accept(
                candidate_id=f"c{number}",
                instruction=f"Write a limerick about topic {number}.",
                bootstrap_round=0,
                rouge_l_max=0.1,
                most_similar_task_id=None,
            )
    assert next(stream) == ([], False)  # a heartbeat: waiting, not generating
    set_failure(run, FAILURE)
    assert next(stream) == ([], True)
    with run.open_store() as store:
        assert store.meta(STOP_REASON) == f"stopped at 0 of 3 tasks: {FAILURE}"


@pytest.mark.parametrize("answers", [True, False], ids=["server-answers", "server-down"])
def test_a_refused_connection_counts_at_once_only_when_the_server_is_down(
    run: BootstrapRun, monkeypatch: pytest.MonkeyPatch, answers: bool
) -> None:
    probed: list[str] = []

    def server_answers(base_url: str, timeout_s: float = 10.0) -> bool:
        probed.append(base_url)
        return answers

    monkeypatch.setattr(llm_failures, "server_answers", server_answers)
    task = generate_task(openai.APIConnectionError(request=request()), run)
    task.llm.base_url = BASE_URL
    if answers:  # a busy server that dropped one request: distilabel's own handling
        with pytest.raises(openai.APIConnectionError):
            list(task.process(ROWS))
        assert recorded_failure(run) is None
    else:
        assert list(task.process(ROWS)) == [[]]
        assert (
            recorded_failure(run) == f"cannot reach the LLM server {BASE_URL} (Connection error.)"
        )
    assert probed == [BASE_URL]


def test_a_success_resets_the_count_of_failures_in_a_row(run: BootstrapRun) -> None:
    error = status_error(openai.InternalServerError, 500, "Error code: 500 - down")
    task = generate_task(error, run)
    for _ in range(llm_failures.CONSECUTIVE_FAILURES - 1):
        with pytest.raises(openai.InternalServerError):
            list(task.process(ROWS))
    task.llm._error = None
    task.llm.replies = {"": [" Explain tides.\n2. Name a planet."]}
    list(task.process(ROWS))
    task.llm._error = error
    with pytest.raises(openai.InternalServerError):
        list(task.process(ROWS))
    assert recorded_failure(run) is None
