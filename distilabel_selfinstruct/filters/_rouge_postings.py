"""Append-only storage for the ROUGE-L index: growable arrays and posting lists."""

from __future__ import annotations

import numpy as np


class GrowableInt32:
    """int32 vector with amortized O(1) append; `view()` is the filled prefix."""

    __slots__ = ("_buf", "_size")

    def __init__(self, capacity: int = 4) -> None:
        self._buf = np.empty(capacity, dtype=np.int32)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, value: int) -> None:
        if self._size == len(self._buf):
            grown = np.empty(2 * len(self._buf), dtype=np.int32)
            grown[: self._size] = self._buf
            self._buf = grown
        self._buf[self._size] = value
        self._size += 1

    def view(self) -> np.ndarray:
        # A view: later appends may reallocate, leaving this view valid but stale.
        return self._buf[: self._size]


class Postings:
    """Posting lists (ascending item ids) keyed by dense element ids.

    Element ids stand for the k-th occurrence of a token, so the size of a
    posting-list intersection is the multiset overlap of two token lists.
    """

    __slots__ = ("_ids", "_lists")

    def __init__(self) -> None:
        self._ids: dict[tuple[int, int], int] = {}
        self._lists: list[GrowableInt32] = []

    def element(self, token: int, occurrence: int) -> int | None:
        """Element id of the `occurrence`-th (1-based) `token`, None if unseen."""
        return self._ids.get((token, occurrence))

    def add_item(self, item: int, tokens: list[int]) -> None:
        seen: dict[int, int] = {}
        for tok in tokens:
            k = seen.get(tok, 0) + 1
            seen[tok] = k
            key = (tok, k)
            eid = self._ids.get(key)
            if eid is None:
                eid = self._ids[key] = len(self._lists)
                self._lists.append(GrowableInt32())
            self._lists[eid].append(item)

    def df(self, element: int) -> int:
        return len(self._lists[element])

    def items(self, element: int) -> np.ndarray:
        return self._lists[element].view()
