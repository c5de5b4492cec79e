"""What the compat modules share: version ranges, one warning per process, and the switch
that turns an import-time patch off."""

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


class MethodPatch:
    """One private method of a library replaced by a fixed version, only where the fix was
    checked: the library's version in `checked` and the method's source hashing to
    `original_sha256`. Decided once per process (`apply`); anything else leaves the method
    alone and warns once, saying what the user risks (`risk`).

    Args:
        name: the compat module's name (also what `$SELFINSTRUCT_DISABLE_COMPAT` names).
        library: the library's import name (its `__version__` is checked).
        owner: returns the class whose method is replaced (imported when needed).
        attribute: the method's name on that class.
        replacement: the fixed method (a `property` to replace a property).
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
        replacement: Callable[..., Any],
        checked: tuple[Version, Version],
        original_sha256: str,
        fix: str,
        risk: str,
    ) -> None:
        self.name, self.library, self.owner, self.attribute = name, library, owner, attribute
        self.replacement, self.checked, self.original_sha256 = replacement, checked, original_sha256
        self.fix, self.risk = fix, risk
        self.outcome: Optional[str] = None
        self._original: Optional[Callable[..., Any]] = None

    def original(self) -> Callable[..., Any]:
        """The library's own method (or property), whether or not the fix replaced it."""
        return self._original or self.owner().__dict__.get(
            self.attribute, getattr(self.owner(), self.attribute)
        )

    def why_not_applicable(self, version: str, sha256: Optional[str]) -> Optional[str]:
        """Why the fix must not be installed on this version and source, or `None`."""
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

    def apply(self) -> str:
        """Installs the fix if it fits; returns `APPLIED`, `DISABLED` or why it was skipped."""
        if self.outcome is None:
            self.outcome = self._apply()
            if self.outcome not in (APPLIED, DISABLED):
                warnings.warn(
                    f"{self.outcome}: not patched, so {self.risk}"
                    f" (see distilabel_selfinstruct.compat.{self.name})",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return self.outcome

    def _apply(self) -> str:
        if disabled(self.name):
            return DISABLED
        version = getattr(importlib.import_module(self.library), "__version__", "")
        try:
            owner = self.owner()
            current = owner.__dict__.get(self.attribute) or getattr(owner, self.attribute)
        except (ImportError, AttributeError):
            return f"{self.library} {version} has no `{self.attribute}` where {self.fix} expects it"
        # A property is checked (and replaced) through its getter.
        function = current.fget if isinstance(current, property) else current
        replacement = self.replacement
        new = replacement.fget if isinstance(replacement, property) else replacement
        if getattr(function, "__module__", None) == new.__module__:
            return APPLIED  # already installed, by an earlier copy of the module (reload)
        reason = self.why_not_applicable(version, source_sha256(function))
        if reason:
            return reason
        self._original = current
        setattr(owner, self.attribute, self.replacement)
        return APPLIED
