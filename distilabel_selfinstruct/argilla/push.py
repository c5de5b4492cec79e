"""Pushing Self-Instruct tasks to an Argilla review dataset (shared by the step and the CLI).

Errors talking to the server surface as `ReviewServerError` with a one-line
message that never contains the API key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.records import ReviewRecord, normalize_task, task_to_records

if TYPE_CHECKING:
    import argilla as rg

logger = logging.getLogger(__name__)

API_URL_ENV = "ARGILLA_API_URL"
API_KEY_ENV = "ARGILLA_API_KEY"
WORKSPACE_ENV = "ARGILLA_WORKSPACE"
DEFAULT_API_URL = "http://127.0.0.1:6900"
MAX_BATCH_SIZE = 500  # the server's limit per bulk upsert request
DEFAULT_BATCH_SIZE = 256

T = TypeVar("T")


class ReviewServerError(RuntimeError):
    """A failure talking to the review server, with a one-line message.

    Attributes:
        transient: True when retrying may help (server unreachable, 5xx).
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(one_line(message))
        self.transient = transient


def one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass
class PushResult:
    """What a push did. `created + updated == records_sent` (from the server's upsert replies)."""

    dataset: str
    workspace: str
    api_url: str
    tasks: int
    tasks_without_instances: int
    records_sent: int
    created: int
    updated: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        rate = self.records_sent / self.seconds if self.seconds > 0 else 0.0
        return (
            f"pushed {self.tasks} tasks as {self.records_sent} records "
            f"to {self.workspace}/{self.dataset} "
            f"at {self.api_url}: {self.created} created, {self.updated} updated "
            f"({self.seconds:.1f}s, {rate:.0f} records/s)"
        )


def resolve_url(api_url: str | None) -> str:
    return (api_url or os.getenv(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")


def resolve_key(api_key: Any) -> str | None:
    """Accepts a str, a pydantic SecretStr or None (then ARGILLA_API_KEY)."""
    if api_key is not None and hasattr(api_key, "get_secret_value"):
        api_key = api_key.get_secret_value()
    return api_key or os.getenv(API_KEY_ENV) or None


@contextlib.contextmanager
def server_errors(api_url: str, action: str) -> Iterator[None]:
    """Turns SDK / HTTP exceptions into a one-line `ReviewServerError`."""
    import httpx

    from distilabel_selfinstruct.compat.argilla import argilla_errors

    # argilla defines them only in a private module; compat/ guards that.
    (
        ArgillaAPIError,
        ArgillaCredentialsError,
        ArgillaError,
        ForbiddenError,
        NotFoundError,
        UnauthorizedError,
    ) = argilla_errors()

    try:
        yield
    except ReviewServerError:
        raise
    except (ArgillaCredentialsError, UnauthorizedError) as e:
        raise ReviewServerError(
            f"Argilla at {api_url} rejected the API key while {action} (401 Unauthorized); "
            f"check --api-key / {API_KEY_ENV}"
        ) from e
    except ForbiddenError as e:
        raise ReviewServerError(
            f"Argilla at {api_url} refused {action} (403 Forbidden): {e}"
        ) from e
    except NotFoundError as e:
        raise ReviewServerError(f"Argilla at {api_url}: not found while {action}: {e}") from e
    except ArgillaAPIError as e:
        transient = getattr(e, "status_code", 0) >= 500
        raise ReviewServerError(
            f"Argilla at {api_url} failed while {action}: {e}", transient=transient
        ) from e
    except (httpx.TransportError, ConnectionError) as e:
        raise ReviewServerError(
            f"cannot reach Argilla at {api_url} while {action} ({type(e).__name__}: {e}); "
            "is the server running? (scripts/argilla-local up)",
            transient=True,
        ) from e
    except httpx.HTTPStatusError as e:
        raise ReviewServerError(
            f"Argilla at {api_url} answered HTTP {e.response.status_code} while {action}",
            transient=e.response.status_code >= 500,
        ) from e
    except ArgillaError as e:
        raise ReviewServerError(f"Argilla at {api_url} failed while {action}: {e}") from e


def connect(api_url: str | None = None, api_key: Any = None, timeout: int = 60) -> rg.Argilla:
    """An authenticated client (the SDK checks the key by calling /api/v1/me).

    Note: every new `rg.Argilla` becomes the SDK's default client; this module
    always passes its client explicitly, so that does not matter here.
    """
    url = resolve_url(api_url)
    key = resolve_key(api_key)
    if not key:
        raise ReviewServerError(f"no Argilla API key: pass --api-key or set {API_KEY_ENV}")
    import argilla as rg

    with server_errors(url, "logging in"):
        # retries=0: the caller owns retrying (with backoff), httpx would retry blindly.
        return rg.Argilla(api_url=url, api_key=key, timeout=timeout, retries=0)


def resolve_workspace(client: rg.Argilla, workspace: str | None) -> rg.Workspace:
    url = client.api_url
    name = workspace or os.getenv(WORKSPACE_ENV)
    with server_errors(url, "listing workspaces"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns on unknown names; we raise below
        if name:
            ws = client.workspaces(name)
            if ws is None:
                available = ", ".join(w.name for w in client.workspaces.list()) or "none"
                raise ReviewServerError(
                    f"workspace {name!r} not found on {url} (available: {available})"
                )
            return ws
        workspaces = client.workspaces.list()
    if not workspaces:
        raise ReviewServerError(f"no workspace on {url}: create one or pass --workspace")
    return workspaces[0]


def find_dataset(client: rg.Argilla, name: str, workspace: rg.Workspace) -> rg.Dataset | None:
    with (
        server_errors(client.api_url, f"looking up dataset {name!r}"),
        warnings.catch_warnings(),
    ):
        # The SDK warns when the dataset does not exist; None says it already.
        warnings.simplefilter("ignore")
        return client.datasets(name=name, workspace=workspace)


def check_schema(dataset: rg.Dataset) -> None:
    missing = s.missing_schema_parts(
        (f.name for f in dataset.settings.fields),
        (q.name for q in dataset.settings.questions),
        (m.name for m in dataset.settings.metadata),
    )
    if missing:
        raise ReviewServerError(
            f"dataset {dataset.name!r} exists but is not a Self-Instruct review dataset "
            f"(missing {', '.join(missing)}); use another --dataset name"
        )


def get_or_create_dataset(
    client: rg.Argilla,
    name: str,
    workspace: str | None = None,
    models: Iterable[str] = (),
    min_submitted: int = 1,
) -> rg.Dataset:
    """The review dataset, created with `build_settings` if absent.

    A new dataset gets an open `model` terms metadata (options cannot be added
    later on 2.8). A reused dataset must have the review schema, and if it
    declares model options (built by hand with `build_settings(models=[...])`)
    the models pushed must be among them: terms values must be declared options.
    """
    import argilla as rg

    ws = resolve_workspace(client, workspace)
    dataset = find_dataset(client, name, ws)
    url = client.api_url
    if dataset is None:
        settings = s.build_settings(client, min_submitted=min_submitted)
        with server_errors(url, f"creating dataset {name!r} in workspace {ws.name!r}"):
            dataset = rg.Dataset(name=name, workspace=ws, settings=settings, client=client).create()
        return dataset
    check_schema(dataset)
    declared = dataset.settings.metadata[s.M_MODEL].options
    undeclared = sorted(set(models) - set(declared)) if declared is not None else []
    if undeclared:
        raise ReviewServerError(
            f"dataset {name!r} only allows models {declared} and Argilla cannot add "
            f"{undeclared} to an existing dataset; push to a new --dataset"
        )
    return dataset


def to_sdk_record(rec: ReviewRecord, dataset: rg.Dataset) -> rg.Record:
    import argilla as rg

    # A dataset made before the judge existed lacks its field, question and metadata:
    # what it cannot hold is left out rather than refused.
    questions = {q.name for q in dataset.settings.questions}
    declared = {m.name for m in dataset.settings.metadata}
    shown = {f.name for f in dataset.settings.fields}
    suggestions = [
        rg.Suggestion(
            question_name=sg.question,
            value=sg.value,
            score=sg.score,
            agent=sg.agent,
            type="model",
        )
        for sg in rec.suggestions
        if sg.question in questions
    ]
    return rg.Record(
        id=rec.id,
        fields={key: value for key, value in rec.fields.items() if key in shown},
        metadata={key: value for key, value in rec.metadata.items() if key in declared},
        suggestions=suggestions,
        _dataset=dataset,
    )


def upsert_records(
    client: rg.Argilla,
    dataset: rg.Dataset,
    records: Sequence[ReviewRecord],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[int, int]:
    """Upserts records by id in batches of <= 500; returns (created, updated).

    Re-logging a record replaces its fields and metadata whole, which is what we
    want: a record always carries the full current content. The 2.8 server's
    bulk reply does not say which records were updated, so `created` is the
    growth of the dataset's record count during the push (exact unless
    someone else adds records to the same dataset at the same time); the
    records sent must have distinct ids.
    """
    batch_size = max(1, min(int(batch_size), MAX_BATCH_SIZE))
    with server_errors(client.api_url, f"sending records to {dataset.name!r}"):
        before = _record_count(dataset)
        for start in range(0, len(records), batch_size):
            batch = [
                to_sdk_record(r, dataset).api_model() for r in records[start : start + batch_size]
            ]
            # The bulk endpoint directly: `dataset.records.log` would draw a progress bar.
            client.api.records.bulk_upsert(dataset_id=dataset.id, records=batch)
        created = _record_count(dataset) - before
    return created, len(records) - created


def _record_count(dataset: rg.Dataset) -> int:
    return int(dataset.progress()["total"])


def push_tasks(
    tasks: Iterable[Mapping[str, Any]],
    dataset_name: str,
    workspace: str | None = None,
    api_url: str | None = None,
    api_key: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    min_submitted: int = 1,
    client: rg.Argilla | None = None,
) -> PushResult:
    """Pushes Self-Instruct tasks (pipeline rows or official JSONL tasks) for review.

    Creates the dataset if needed and upserts one record per instance by its
    stable id, so pushing the same tasks again creates no new records.

    Raises:
        ReviewServerError: wrong key, server down, incompatible dataset...
        ValueError: a task without id or instruction.
    """
    started = time.perf_counter()
    # One task per id (the last wins), so that every record id is sent once.
    normalized = list({n["task_id"]: n for n in map(normalize_task, tasks)}.values())
    records = [r for t in normalized for r in task_to_records(t)]
    client = client or connect(api_url, api_key)
    dataset = get_or_create_dataset(
        client,
        dataset_name,
        workspace,
        models={t["model_name"] for t in normalized},
        min_submitted=min_submitted,
    )
    created, updated = upsert_records(client, dataset, records, batch_size) if records else (0, 0)
    with server_errors(client.api_url, "reading the workspace name"):
        workspace_name = dataset.workspace.name
    return PushResult(
        dataset=dataset_name,
        workspace=workspace_name,
        api_url=client.api_url,
        tasks=len(normalized),
        tasks_without_instances=sum(1 for t in normalized if not t["instances"]),
        records_sent=len(records),
        created=created,
        updated=updated,
        seconds=time.perf_counter() - started,
    )


def with_retries(
    fn: Callable[[], T],
    max_retries: int,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Calls `fn`, retrying transient `ReviewServerError`s with exponential backoff.

    Waits base_delay * 2**attempt (capped at max_delay) between attempts; a
    non-transient error (e.g. wrong API key) is raised at once.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except ReviewServerError as e:
            if not e.transient or attempt >= max_retries:
                raise
            delay = min(max_delay, base_delay * 2**attempt)
            logger.debug(
                "Argilla call failed (%s); retry %d/%d in %.1fs",
                e,
                attempt + 1,
                max_retries,
                delay,
            )
            sleep(delay)
            attempt += 1
