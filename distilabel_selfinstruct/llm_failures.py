"""When the LLM's server, not its reply, is what failed: stop the run instead of counting it.

distilabel catches any exception a step raises, fills the batch's outputs with `None` and
goes on. For an LLM stage whose server is down, refuses the API key or fails on every
request, that turns each call into an "unparseable reply" and the run into minutes of
retries that can only end at the round limit. The request has been retried by the time
an exception reaches the task (by the LLM client, distilabel's `OpenAILLM`: 6 retries with
back-off; by `concurrency.Retries`, as many and counted, when requests stream), so such an
error is persistent.

`ServerFailures` is the part of `llm_task.LLMTask` (the base of this package's LLM tasks)
that tells the two apart. An auth error (401/403) or a 404 (wrong URL or model) is the
server's at once. A refused connection, a timeout, a 429, a 5xx or a reply that is not JSON
may be about one request on a busy server, so it counts as the server's only when the
server then fails a `/models` request too, or when it is the step's
`CONSECUTIVE_FAILURES`-th such error in a row. Then it records one line in the pool store
(meta key `LLM_FAILURE`); the task yields no rows for the batch (its inputs stay unfinished
in the pool and are replayed by the resume) and the run ends: `SampleDemonstrations` ends
the stream on it and the `selfinstruct` command stops the pipeline at once. Anything else
(HTTP 400, a prompt too long) keeps distilabel's behaviour.

A streamed request that still fails after its retries and is not the server's failure
drops its row: `failed_request_drop` is that drop, in the one format of the pool's drop log
(`filters.base.drop_record`).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional

from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stages import Reason, Stage
from distilabel_selfinstruct.bootstrap.stop import LLM_FAILURE
from distilabel_selfinstruct.filters.base import drop_record
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


def failed_request_drop(row: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """The drop of `row` at `stage` when its request failed for itself after its retries
    (reason `llm_request_failed`): a prompt at generation, an accepted task (then lost) at
    the later stages."""
    return drop_record(
        row.get("candidate_id") or row.get("prompt_id"),
        stage,
        Reason.LLM_REQUEST_FAILED,
        text=row.get("instruction"),
        row=row,
    )


class ServerFailures:
    """Whether an LLM step's error is its server's failure (see the module docstring), and
    the record of it in the run's pool store.

    Args:
        llm: the step's LLM (named in the message; its `base_url` is probed).
        run: the run whose pool records the failure; `None`: no error is the server's, and
            the step keeps distilabel's behaviour.
        logger: the step's logger.
    """

    def __init__(self, llm: Any, run: Optional[BootstrapRun], logger: logging.Logger) -> None:
        self.llm = llm
        self.run = run
        self._logger = logger
        self._in_a_row = 0

    def succeeded(self) -> None:
        """A request got its reply: the errors in a row start again from none."""
        self._in_a_row = 0

    def stops_run(self, error: BaseException) -> Optional[str]:
        """If `error` means the server cannot serve the run: records it in the pool (once)
        and returns the message; `None` when it is about this request."""
        message = server_failure(error, self.llm)
        if message is None or self.run is None:
            return None
        self._in_a_row += 1
        base_url = getattr(self.llm, "base_url", None)
        if not (
            is_definite(error)
            or self._in_a_row >= CONSECUTIVE_FAILURES
            or (base_url and not server_answers(str(base_url)))
        ):
            return None  # the server still answers: this request's problem
        with self.run.open_store() as store:
            if store.meta(LLM_FAILURE) is None:
                store.set_meta(LLM_FAILURE, message)
                self._logger.error(f"{message}; the run stops (its work so far is kept)")
        return message
