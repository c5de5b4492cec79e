"""When the LLM's server, not its reply, is what failed: stop the run instead of counting it.

distilabel catches any exception a step raises, fills the batch's outputs with `None` and
goes on. For an LLM stage whose server is down, refuses the API key or fails on every
request, that turns each call into an "unparseable reply" and the run into minutes of
retries that can only end at the round limit. The request has been retried by the time
an exception reaches the task (by the LLM client, distilabel's `OpenAILLM`: 6 retries with
back-off; by `concurrency.Retries`, as many and counted, when requests stream), so such an
error is persistent.

`StopsOnServerFailure` is the base of this package's LLM tasks. An auth error (401/403) or
a 404 (wrong URL or model) is the server's at once. A refused connection, a timeout, a
429, a 5xx or a reply that is not JSON may be about one request on a busy server, so it
counts as the server's only when the server then fails a `/models` request too, or when
it is the step's `CONSECUTIVE_FAILURES`-th such error in a row. Then the task records one
line in the pool store (meta key `LLM_FAILURE`), yields no rows for the batch (its inputs
stay unfinished in the pool and are replayed by the resume) and lets the run end:
`SampleDemonstrations` ends the stream on it and the `selfinstruct` command stops the
pipeline at once. Anything else (HTTP 400, a prompt too long) keeps distilabel's
behaviour.

(No `from __future__ import annotations` here: distilabel finds a step's input by the live
`StepInput` annotation of `process`.)
"""

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Optional

from distilabel.steps import StepInput
from distilabel.typing import StepOutput
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct import usage
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.bootstrap.stop import LLM_FAILURE, stream_has_ended
from distilabel_selfinstruct.concurrency import ConcurrentRequests
from distilabel_selfinstruct.pool import sqlite_path
from distilabel_selfinstruct.server_errors import is_connection_error, status_code

_AUTH = {401: "refused the API key", 403: "refused access"}
# Errors of the same kind in a row after which a step calls the server failed even though
# it still answers `/models` (each has been retried by the client already).
CONSECUTIVE_FAILURES = 3


def server_name(llm: Any) -> str:
    """How the user named the server: its base URL, else the LLM class and model."""
    base_url = getattr(llm, "base_url", None)
    if base_url:
        return str(base_url)
    model = getattr(llm, "model", None)
    return f"{type(llm).__name__}({model})" if model else type(llm).__name__


def request_models(base_url: str, timeout_s: float = 10.0) -> Any:
    """`GET {base_url}/models` with the run's API key: the `httpx.Response`.

    Raises:
        httpx.HTTPError: the server could not be reached.
    """
    import httpx

    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"}
    return httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout_s)


def lists_models_as_json(reply: Any) -> bool:
    """Whether a 200 reply to `/models` is JSON, as an OpenAI-compatible API's is."""
    try:
        reply.json()
    except ValueError:
        return False
    return True


def server_answers(base_url: str, timeout_s: float = 10.0) -> bool:
    """Whether the server at `base_url` answers `GET /models` like an OpenAI-compatible
    API: no server error, and JSON when it says 200."""
    import httpx

    try:
        reply = request_models(base_url, timeout_s)
    except httpx.HTTPError:
        return False
    if reply.status_code == 200 and not lists_models_as_json(reply):
        return False
    return reply.status_code < 500


def is_definite(error: BaseException) -> bool:
    """Errors that mean the server refuses this run whatever is retried: a refused key or
    access (401/403) and a wrong URL or model (404)."""
    return status_code(error) in (401, 403, 404)


def server_failure(error: BaseException, llm: Any) -> Optional[str]:
    """One line naming the server and the cause when `error` is of a kind that means the
    server cannot serve the run (see the module docstring for when it is taken as such);
    `None` for an error about one request."""
    server = server_name(llm)
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    code = status_code(error)
    if code in _AUTH:
        return f"the LLM server {server} {_AUTH[code]} (HTTP {code}): check OPENAI_API_KEY"
    if code == 404:
        return f"the LLM server {server} answered HTTP 404: check --base-url and --model ({detail})"
    if code == 429:
        return f"the LLM server {server} kept rate-limiting the run (HTTP 429) after retries"
    if code is not None and code >= 500:
        return f"the LLM server {server} failed (HTTP {code}) after retries: {detail}"
    if code is not None:
        return None
    if is_connection_error(error):
        return f"cannot reach the LLM server {server} ({detail})"
    if isinstance(error, json.JSONDecodeError):
        return f"the LLM server {server} sent a reply that is not JSON (an OpenAI-compatible API?)"
    return None


class StopsOnServerFailure(ConcurrentRequests):
    """A task that ends the run when its LLM's server fails (see the module docstring), and
    keeps `max_concurrency` requests in flight (`ConcurrentRequests`).

    A streamed request that still fails after its retries (`concurrency.Retries`) and is
    not the server's failure drops its row with reason `llm_request_failed`, counted in
    the summary's drops and `llm_errors`.

    Attributes:
        run: the run's `BootstrapRun`, where the failure is recorded (and whose directory
            holds the request slots the run's LLM steps share); without it the task keeps
            distilabel's behaviour (the batch's outputs become `None`).
    """

    run: Optional[BootstrapRun] = Field(
        default=None, description="The run whose pool records a failure of the LLM server."
    )
    # The stage a row whose request failed is dropped at: a prompt at generation, an
    # accepted task at instances (it is then lost).
    failed_request_stage: ClassVar[Stage] = Stage.INSTANCES
    _failures_in_a_row: int = PrivateAttr(default=0)
    _store: Any = PrivateAttr(default=None)

    def unload(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()

    def count_usage(self, rows: list[dict[str, Any]], errors: int = 0) -> None:
        """Adds the calls and tokens of `rows`, `errors` failed requests and the retries
        since the last count to the run's counters (`usage`)."""
        if self.run is None:
            return
        counts = usage.rows_usage(rows, self.name)
        if errors:
            counts[usage.counter_name(usage.ERRORS, self.name)] = errors
        counts.update(usage.retry_counters(self.take_retries(), self.name))
        if counts:
            if self._store is None:
                self._store = self.run.open_store()
            self._store.increment_many(counts)

    def slots_directory(self) -> Optional[Path]:
        # The slots are a pipe beside a local pool; with a pool on a server the stages may
        # run on different machines, and each keeps its own bound.
        if self.run is None or self.run.networked_pool:
            return None
        return sqlite_path(self.run.pool_path).parent

    def stream_ended(self) -> bool:
        # Without this, a step blocked on its window at the end waits for replies to
        # tasks the run no longer needs: minutes on a server that answers one at a time.
        if self.run is None:
            return False
        if self._store is None:
            self._store = self.run.open_store()
        return stream_has_ended(self._store, self.run.num_instructions)

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        try:
            rows = next(super().process(inputs))
        except Exception as error:
            self.count_usage([], errors=len(inputs))
            if self.failure_stops_run(error) is None:
                raise
            yield []
        else:
            if not self.streams_requests:
                self._failures_in_a_row = 0
            self.count_usage(rows)
            yield rows

    def request_failed(self, row: dict[str, Any], error: BaseException) -> list[dict[str, Any]]:
        # A streamed request, retried already: the server's failure leaves the row
        # unfinished (for the resume); one request's failure drops the row, counted.
        self.count_usage([], errors=1)
        if self.run is None:
            return super().request_failed(row, error)
        if self.failure_stops_run(error) is not None:
            return []
        self._logger.warning(f"⚠️ A request of step '{self.name}' failed after retries: {error}")
        drop = {
            "candidate_id": row.get("candidate_id") or row.get("prompt_id"),
            "stage": str(self.failed_request_stage),
            "reason": str(Reason.LLM_REQUEST_FAILED),
            "score": None,
            "text": row.get("instruction"),
            "bootstrap_round": row.get("bootstrap_round"),
        }
        if self._store is None:
            self._store = self.run.open_store()
        self._store.record_drops([drop])
        return []

    def rows_for(self, row: dict[str, Any], output: Any) -> list[dict[str, Any]]:
        self._failures_in_a_row = 0
        return super().rows_for(row, output)

    def failure_stops_run(self, error: BaseException) -> Optional[str]:
        """If `error` means the server cannot serve the run: records it in the pool (once)
        and returns the message; `None` when it is about this request."""
        message = server_failure(error, self.llm)
        if message is None or self.run is None:
            return None
        self._failures_in_a_row += 1
        base_url = getattr(self.llm, "base_url", None)
        if not (
            is_definite(error)
            or self._failures_in_a_row >= CONSECUTIVE_FAILURES
            or (base_url and not server_answers(str(base_url)))
        ):
            return None  # the server still answers: this request's problem
        with self.run.open_store() as store:
            if store.meta(LLM_FAILURE) is None:
                store.set_meta(LLM_FAILURE, message)
                self._logger.error(f"{message}; the run stops (its work so far is kept)")
        return message
