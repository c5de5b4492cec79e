"""Human review of Self-Instruct data in Argilla 2.x.

- `schema`: the review dataset settings (`build_settings`).
- `records`: tasks -> one record per instance (pure Python).
- `push`: `push_tasks`, `ReviewServerError` (shared by the step and the CLI).
- `step`: `SelfInstructToArgilla`, the distilabel step.
- `review`: `pull_reviews`, `curate`, `write_curated` (the way back).
- `cli`: `add_subcommands` for `selfinstruct push` / `selfinstruct pull`.

Names are imported lazily, and the modules import `argilla` only inside
functions, so that importing them creates no Argilla client.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_settings": "schema",
    "push_tasks": "push",
    "PushResult": "push",
    "ReviewServerError": "push",
    "SelfInstructToArgilla": "step",
    "pull_reviews": "review",
    "curate": "review",
    "write_curated": "review",
    "add_subcommands": "cli",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
