"""What kind of failure an LLM client's exception is: one place that reads them.

`concurrency` retries the kinds that may pass (a rate limit, a server error, a timeout, a
dropped connection); `llm_failures` decides when they mean the server cannot serve the
run. The exceptions are matched by status code and class name, so no client library
(openai, httpx, aiohttp) needs importing.
"""

from __future__ import annotations

from typing import Optional

RATE_LIMITED = "rate_limited"  # HTTP 429
SERVER_ERROR = "server_error"  # HTTP 5xx
TIMEOUT = "timeout"  # no reply within the client's timeout
CONNECTION = "connection"  # refused, reset or dropped before a reply


def status_code(error: BaseException) -> Optional[int]:
    """The HTTP status of an error reply, `None` when there was no reply."""
    code = getattr(error, "status_code", None)
    if code is None:
        response = getattr(error, "response", None)
        code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _names(error: BaseException) -> list[str]:
    return [cls.__name__ for cls in type(error).__mro__]


def is_timeout(error: BaseException) -> bool:
    # openai's APITimeoutError, httpx's TimeoutException, asyncio's TimeoutError.
    return isinstance(error, TimeoutError) or any("Timeout" in name for name in _names(error))


def is_connection_error(error: BaseException) -> bool:
    """A refused, reset or timed-out connection (openai's APIConnectionError, httpx's
    ConnectError, aiohttp's ClientConnectorError, the OS's ConnectionError)."""
    if isinstance(error, ConnectionError) or is_timeout(error):
        return True
    return any("Connect" in name for name in _names(error))


def retry_reason(error: BaseException) -> Optional[str]:
    """Why a request that failed with `error` is worth sending again, `None` if it is not
    (any other HTTP status: the same request would fail the same way)."""
    code = status_code(error)
    if code == 429:
        return RATE_LIMITED
    if code is not None:
        return SERVER_ERROR if code >= 500 else None
    if is_timeout(error):
        return TIMEOUT
    if is_connection_error(error):
        return CONNECTION
    return None


def retry_after_s(error: BaseException) -> Optional[float]:
    """The server's `Retry-After` (seconds) on an error reply, when it sent one."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from inference servers; the back-off applies
