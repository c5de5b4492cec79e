"""What the compat modules share: version ranges, one warning per process, and the switch
that turns an import-time patch off."""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import warnings
from typing import Any, Callable, Optional

DISABLE_ENV = "SELFINSTRUCT_DISABLE_COMPAT"

Version = tuple[int, ...]

_warned: set[str] = set()


def version_tuple(text: str) -> Version:
    """The release numbers of a version string: `"1.5.3"` -> `(1, 5, 3)`, `"2.8.0rc1"` ->
    `(2, 8, 0)`; `()` when it starts with no number."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def in_range(version: str, lower: Version, upper: Version) -> bool:
    """`lower <= version < upper`, comparing release numbers only."""
    parsed = version_tuple(version)
    return bool(parsed) and lower <= parsed < upper


def format_range(lower: Version, upper: Version) -> str:
    return f">={'.'.join(map(str, lower))},<{'.'.join(map(str, upper))}"


def disabled(name: str) -> bool:
    """Whether `$SELFINSTRUCT_DISABLE_COMPAT` (comma-separated names) turns patch `name` off."""
    names = os.environ.get(DISABLE_ENV, "")
    return name in {part.strip() for part in names.split(",")}


def warn_if_unchecked(
    name: str, library: str, version: str, checked: tuple[Version, Version], what: str
) -> None:
    """One `RuntimeWarning` per process for compat module `name` when `library`'s `version`
    is outside the `checked` range; `what` says what is unverified there."""
    if name in _warned or in_range(version, *checked):
        return
    _warned.add(name)
    warnings.warn(
        f"{library} {version} is outside {format_range(*checked)}, {what} "
        f"(see distilabel_selfinstruct.compat.{name})",
        RuntimeWarning,
        stacklevel=3,
    )


def source_sha256(function: Callable[..., Any]) -> Optional[str]:
    """sha256 of a function's source text; `None` when the source can't be read."""
    try:
        return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()
    except (OSError, TypeError):
        return None
