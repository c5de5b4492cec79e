"""The exception classes of the argilla 2.x SDK, which it defines only in the private
`argilla._exceptions` (neither `argilla` nor a public module re-exports them).

`argilla_errors()` returns the ones `distilabel_selfinstruct.argilla.push.server_errors`
tells apart. Guard: checked on argilla `ARGILLA_RANGE` (`argilla.__version__`). Outside it,
the first call warns once (`RuntimeWarning`) and still tries; if the module or a class is
gone it raises `ArgillaCompatError` naming the installed version, at the first call to the
server rather than as an `ImportError` deep in the SDK.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from distilabel_selfinstruct.compat._guard import format_range, warn_if_unchecked

NAME = "argilla"
ARGILLA_RANGE = ((2, 8), (3,))
PRIVATE_MODULE = "argilla._exceptions"


class ArgillaCompatError(RuntimeError):
    """This argilla SDK has not the exception classes we catch, where we look for them."""


class ArgillaErrors(NamedTuple):
    """Fields in the order (and with the names) of the classes, for unpacking."""

    ArgillaAPIError: type[Exception]
    ArgillaCredentialsError: type[Exception]
    ArgillaError: type[Exception]
    ForbiddenError: type[Exception]
    NotFoundError: type[Exception]
    UnauthorizedError: type[Exception]


def argilla_errors() -> ArgillaErrors:
    """The SDK's exception classes (see the module docstring)."""
    import argilla

    version = str(getattr(argilla, "__version__", "unknown"))
    warn_if_unchecked(
        NAME, "argilla", version, ARGILLA_RANGE, "the versions whose exception classes were checked"
    )
    try:
        module = importlib.import_module(PRIVATE_MODULE)
        return ArgillaErrors(*(getattr(module, name) for name in ArgillaErrors._fields))
    except (ImportError, AttributeError) as e:
        raise ArgillaCompatError(
            f"argilla {version} has no {PRIVATE_MODULE} with {', '.join(ArgillaErrors._fields)} "
            f"(checked on {format_range(*ARGILLA_RANGE)}): {e}"
        ) from e
