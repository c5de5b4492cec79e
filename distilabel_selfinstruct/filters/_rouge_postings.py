"""Append-only storage for the ROUGE-L index: growable arrays and posting lists."""

from __future__ import annotations

import numpy as np

# An element becomes a dense 0/1 column once it occurs in this share of the
# pool: adding a contiguous uint8 column is ~10x cheaper per item than a
# scattered add, and common words ("the", "a") would otherwise dominate.
_DENSE_SHARE = 1 / 32
_DENSE_MIN_DF = 256


class GrowableArray:
    """1-d array with amortized O(1) append; `view()` is the filled prefix."""

    __slots__ = ("_buf", "_size")

    def __init__(self, dtype: type) -> None:
        self._buf = np.empty(4, dtype=dtype)
        self._size = 0

    def append(self, value: int) -> None:
        if self._size == len(self._buf):
            grown = np.empty(2 * len(self._buf), dtype=self._buf.dtype)
            grown[: self._size] = self._buf
            self._buf = grown
        self._buf[self._size] = value
        self._size += 1

    def view(self) -> np.ndarray:
        # A view: later appends may reallocate, leaving this view valid but stale.
        return self._buf[: self._size]


class Postings:
    """Which pool items contain each element, as sparse lists or dense columns.

    Element ids stand for the k-th occurrence of a token, so the number of
    elements two texts share is their multiset token overlap, an upper bound on
    their LCS length.
    """

    __slots__ = ("_df", "_ids", "_lists", "_rows", "_dense", "_n_items")

    def __init__(self) -> None:
        self._ids: dict[tuple[int, int], int] = {}
        self._df: list[int] = []
        self._lists: list[GrowableArray | None] = []  # None once dense
        self._rows: dict[int, int] = {}  # element -> row of `_dense`
        self._dense = np.zeros((0, 1024), dtype=np.uint8)
        self._n_items = 0

    def element(self, token: int, occurrence: int) -> int | None:
        """Element id of the `occurrence`-th (1-based) `token`, None if unseen."""
        return self._ids.get((token, occurrence))

    def add_item(self, item: int, tokens: list[int]) -> None:
        """Indexes `tokens` as pool item `item` (items are added in order)."""
        self._n_items = item + 1
        if item >= self._dense.shape[1]:
            self._grow_dense(rows=self._dense.shape[0], cols=2 * self._dense.shape[1])
        limit = max(_DENSE_MIN_DF, int(self._n_items * _DENSE_SHARE))
        seen: dict[int, int] = {}
        for tok in tokens:
            k = seen.get(tok, 0) + 1
            seen[tok] = k
            key = (tok, k)
            eid = self._ids.get(key)
            if eid is None:
                eid = self._ids[key] = len(self._df)
                self._df.append(0)
                self._lists.append(GrowableArray(np.int32))
            self._df[eid] += 1
            sparse = self._lists[eid]
            if sparse is None:
                self._dense[self._rows[eid], item] = 1
            else:
                sparse.append(item)
                if self._df[eid] >= limit:
                    self._densify(eid, sparse)

    def _densify(self, element: int, sparse: GrowableArray) -> None:
        row = len(self._rows)
        if row >= self._dense.shape[0]:
            self._grow_dense(rows=max(16, 2 * row), cols=self._dense.shape[1])
        self._dense[row, sparse.view()] = 1
        self._rows[element] = row
        self._lists[element] = None

    def _grow_dense(self, rows: int, cols: int) -> None:
        grown = np.zeros((rows, cols), dtype=np.uint8)
        old = self._dense
        grown[: old.shape[0], : old.shape[1]] = old
        self._dense = grown

    def add_to(self, counts: np.ndarray, element: int) -> None:
        """Adds 1 to `counts[item]` for every item containing `element`."""
        sparse = self._lists[element]
        if sparse is None:
            counts += self._dense[self._rows[element], : len(counts)]
        else:
            counts[sparse.view()] += 1
