"""What the compat modules share: version ranges, one warning per process, and the switch
that turns a fix off."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import re
import warnings
from typing import Any, Callable, Optional

DISABLE_ENV = "SELFINSTRUCT_DISABLE_COMPAT"
APPLIED = "applied"
DISABLED = "disabled"

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


class ScopedFix:
    """One private method of a library that our pipelines (`compat.pipeline.with_loop_fixes`)
    override with a fixed version, only where the fix was checked: the library's version in
    `checked` and the original method's source hashing to `original_sha256`. Nothing of the
    library is modified: the override lives in our pipeline subclass and calls the library's
    own method wherever the fix does not fit. Decided once per process (`active`); a fix that
    does not fit warns once, saying what the user risks (`risk`).

    Args:
        name: the compat module's name (also what `$SELFINSTRUCT_DISABLE_COMPAT` names).
        library: the library's import name (its `__version__` is checked).
        owner: returns the class whose method is fixed (imported when needed).
        attribute: the method's name on that class.
        checked: the library versions the fix was checked against.
        original_sha256: sha256 of the original method's source.
        fix: what the fix is called in messages ("the empty-last-batch fix").
        risk: what happens without it, for the warning.
    """

    def __init__(
        self,
        *,
        name: str,
        library: str,
        owner: Callable[[], type],
        attribute: str,
        checked: tuple[Version, Version],
        original_sha256: str,
        fix: str,
        risk: str,
    ) -> None:
        self.name, self.library, self.owner, self.attribute = name, library, owner, attribute
        self.checked, self.original_sha256 = checked, original_sha256
        self.fix, self.risk = fix, risk
        self.outcome: Optional[str] = None

    def original(self) -> Callable[..., Any]:
        """The library's own method (or property), as the library defines it."""
        owner = self.owner()
        for klass in owner.__mro__:
            if self.attribute in klass.__dict__:
                return klass.__dict__[self.attribute]
        return getattr(owner, self.attribute)

    def why_not_applicable(self, version: str, sha256: Optional[str]) -> Optional[str]:
        """Why the fix must not be used on this version and source, or `None`."""
        if not in_range(version, *self.checked):
            return (
                f"{self.library} {version} is outside {format_range(*self.checked)}, the"
                f" versions {self.fix} was checked against"
            )
        if sha256 != self.original_sha256:
            return (
                f"{self.library} {version}'s `{self.owner().__name__}.{self.attribute}` is not"
                f" the code {self.fix} was written against"
            )
        return None

    def decide(self) -> str:
        """`APPLIED` (the fix is used), `DISABLED`, or why it does not fit; decided once per
        process, warning once when it does not fit."""
        if self.outcome is None:
            self.outcome = self._decide()
            if self.outcome not in (APPLIED, DISABLED):
                warnings.warn(
                    f"{self.outcome}: not used, so {self.risk}"
                    f" (see distilabel_selfinstruct.compat.{self.name})",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return self.outcome

    def active(self) -> bool:
        """Whether our pipelines use the fix (see `decide`)."""
        return self.decide() == APPLIED

    def _decide(self) -> str:
        if disabled(self.name):
            return DISABLED
        version = getattr(importlib.import_module(self.library), "__version__", "")
        try:
            current = self.original()
        except (ImportError, AttributeError):
            return f"{self.library} {version} has no `{self.attribute}` where {self.fix} expects it"
        # A property is checked through its getter.
        function = current.fget if isinstance(current, property) else current
        return self.why_not_applicable(version, source_sha256(function)) or APPLIED
