"""Exact ROUGE-L novelty index for Self-Instruct filtering.

Self-Instruct rejects a candidate instruction whose ROUGE-L F-measure against
any instruction already in the pool is greater than 0.7. `RougeLIndex` answers
that question exactly as `rouge-score` (``RougeScorer(["rougeL"])``, no
stemmer, default tokenizer) would.

ROUGE-L F-measure in rouge-score is computed from the LCS length ``L`` of the
two token lists (``m`` and ``n`` tokens) as::

    precision = L / n
    recall = L / m
    f = 2 * precision * recall / (precision + recall)   # 0.0 if L == 0

and is 0 when either token list is empty. This module evaluates exactly that
float expression, so scores sitting exactly at the threshold decide the same
way as in rouge-score.

Tokenizers:
    - ``"rouge_score"`` (default): rouge-score's tokenizer: ``str.lower()``,
      every run of characters outside ``[a-z0-9]`` is a separator. Text in
      non-Latin scripts therefore produces no tokens at all and scores 0
      against everything (two identical Chinese instructions score 0.0).
    - ``"unicode"`` (opt-in): ``str.casefold()``, words are runs of Unicode
      letters, digits and combining marks; every Han/Hiragana/Katakana
      character is a token on its own (those scripts do not separate words
      with spaces). Scores then differ from rouge-score for non-ASCII text,
      by design.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from distilabel_selfinstruct.filters._rouge_postings import GrowableArray, Postings

__all__ = ["RougeLIndex", "RougeLMatch", "f_measure", "rouge_l_f", "tokenize"]

_ROUGE_TOKEN_RE = re.compile(r"[a-z0-9]+")


class RougeLMatch(NamedTuple):
    """Best match of a text against the pool.

    Attributes:
        score: ROUGE-L F-measure (rouge-score's ``rougeL.fmeasure``).
        index: position of the matching pool item (the lowest one on ties, as
            ``numpy.argmax``); -1 when the pool is empty.
    """

    score: float
    index: int


def _rouge_score_tokens(text: str) -> list[str]:
    # Same result as rouge_score.tokenize.tokenize(text, None): lowercase,
    # non [a-z0-9] runs become spaces, split, drop empties.
    return _ROUGE_TOKEN_RE.findall(text.lower())


def _unicode_tokens(text: str) -> list[str]:
    from distilabel_selfinstruct.filters._rouge_unicode import unicode_tokens

    return unicode_tokens(text)


_TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "rouge_score": _rouge_score_tokens,
    "unicode": _unicode_tokens,
}


def tokenize(text: str, tokenizer: str = "rouge_score") -> list[str]:
    """Tokenizes `text` with the named tokenizer (``rouge_score`` or ``unicode``)."""
    try:
        fn = _TOKENIZERS[tokenizer]
    except KeyError:
        raise ValueError(
            f"Unknown tokenizer {tokenizer!r}; expected one of {sorted(_TOKENIZERS)}"
        ) from None
    return fn(text)


def f_measure(lcs: int, m: int, n: int) -> float:
    """rouge-score's F-measure from an LCS length and the two token counts."""
    if m == 0 or n == 0:
        return 0.0
    precision = lcs / n
    recall = lcs / m
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_l_f(a: str, b: str, tokenizer: str = "rouge_score") -> float:
    """ROUGE-L F-measure of one pair, exactly as rouge-score computes it."""
    ta = tokenize(a, tokenizer)
    tb = tokenize(b, tokenizer)
    if not ta or not tb:
        return 0.0
    return f_measure(LCSseq.similarity(ta, tb), len(ta), len(tb))


# Pruning compares float upper bounds with float scores; equal rationals may
# round 1 ulp apart, so a bound only prunes when it is below by this margin.
_EPS = 1e-9
# Token ids become code points (rapidfuzz is fastest on str), skipping surrogates.
_SURROGATES = 0xE000 - 0xD800
_MAX_CHAR_ID = 0x10FFFF - _SURROGATES
_SHORT_MAX = 0xFFFF
_TABLE_MAX = 1 << 16  # entries of a cached F(L, m, n) table (512 KB)


class RougeLIndex:
    """Growing pool of texts answering exact max-ROUGE-L queries.

    Queries are pruned, never approximated. The pool is indexed by token
    occurrences (the k-th "the" of a text is an element of its own), so one
    pass over the query's posting lists (dense 0/1 columns for common
    elements) gives the multiset token overlap ``o`` of the query with every
    item, and ``LCS <= o``. Items are then visited by decreasing overlap:
    within an overlap bucket only lengths ``n`` whose bound
    ``F(min(o, n), m, n)`` reaches the best score so far are kept, and their
    LCS is computed exactly (rapidfuzz, bit-parallel) in decreasing bound
    order; the visit stops once ``F(o, m, o)`` (the bound for any length)
    falls below the best score. Ties keep the lowest position.

    The index keeps token ids only, not the texts: callers map a match's
    ``index`` (the position in insertion order) back to their own list.

    Attributes:
        tokenizer: ``"rouge_score"`` (default, rouge-score compatible) or
            ``"unicode"`` (see the module docstring).

    Examples:
        >>> idx = RougeLIndex()
        >>> idx.add(["Write a poem about the sea."])
        >>> idx.best_match("Write a poem about the ocean.")
        RougeLMatch(score=0.8333333333333334, index=0)

        The Self-Instruct loop: keep a candidate unless its score is above the
        threshold, then make it part of the pool for the next candidates.

        >>> for text in ["Write a poem about the ocean.", "List 5 fruits."]:
        ...     if not idx.best_match(text).score > 0.7:
        ...         idx.add([text])
        >>> len(idx)
        2
    """

    def __init__(self, tokenizer: str = "rouge_score") -> None:
        tokenize("", tokenizer)  # validates the name
        self.tokenizer = tokenizer
        self._tokenize = _TOKENIZERS[tokenizer]
        self._vocab: dict[str, int] = {}
        # Token-id sequences as str (one code point per token) while the
        # vocabulary fits in the code space, else as lists of ints.
        self._seqs: list[str | list[int]] = []
        self._as_text = True
        self._lens = GrowableArray(np.int32)
        # Lengths clipped to uint16 for cheap window masks (exact below the clip).
        self._short_lens = GrowableArray(np.uint16)
        self._max_len = 0
        self._postings = Postings()

    def __len__(self) -> int:
        return len(self._seqs)

    def _token_ids(self, text: str, grow: bool) -> list[int]:
        """Token ids of `text`; unseen tokens are -1 unless `grow`."""
        vocab = self._vocab
        if not grow:
            return [vocab.get(tok, -1) for tok in self._tokenize(text)]
        out = []
        for tok in self._tokenize(text):
            tid = vocab.get(tok)
            if tid is None:
                tid = vocab[tok] = len(vocab)
            out.append(tid)
        return out

    def _sequence(self, tids: list[int]) -> str | list[int]:
        if len(self._vocab) >= _MAX_CHAR_ID:
            self._to_int_sequences()
        if not self._as_text:
            return tids
        unseen = len(self._vocab)  # an id no pool item uses
        return "".join([_char(unseen if t < 0 else t) for t in tids])

    def _to_int_sequences(self) -> None:
        if self._as_text:
            self._seqs = [[_char_id(c) for c in s] for s in self._seqs]
            self._as_text = False

    def add(self, texts: Iterable[str]) -> None:
        """Appends `texts` to the pool; their ids are the next positions."""
        for text in _texts(texts):
            self._add_tokens(self._token_ids(text, grow=True))

    def _add_tokens(self, tids: list[int]) -> None:
        item = len(self._seqs)
        seq = self._sequence(tids)  # may convert self._seqs: call it first
        self._seqs.append(seq)
        self._lens.append(len(tids))
        self._short_lens.append(min(len(tids), _SHORT_MAX))
        self._max_len = max(self._max_len, len(tids))
        self._postings.add_item(item, tids)

    def best_match(self, text: str, score_floor: float = 0.0) -> RougeLMatch:
        """Maximum ROUGE-L F-measure of `text` over the pool, with its position.

        Args:
            text: the candidate text.
            score_floor: scores are only resolved above this value. With the
                default 0.0 the result is the exact max and first argmax. With a
                higher floor, the result is still exact whenever the max is
                above the floor; otherwise it is some pair whose score is
                ``<= score_floor`` (exact for that index, a lower bound of the
                max), which is much cheaper to find. A ``score > threshold``
                decision is therefore exact for any floor ``<= threshold``.
        """
        return RougeLMatch(*self._search(self._token_ids(text, grow=False), score_floor))

    def _search(self, tids: list[int], floor: float) -> tuple[float, int]:
        n_items = len(self._seqs)
        if n_items == 0:
            return 0.0, -1
        m = len(tids)
        postings = self._postings
        # Multiset overlap of the query with every item, from the query's
        # elements (k-th occurrence of a token) that the pool knows.
        overlap = np.zeros(n_items, dtype=np.uint8 if m < 255 else np.int32)
        seen: dict[int, int] = {}
        shared = 0
        for t in tids:
            k = seen.get(t, 0) + 1
            seen[t] = k
            e = postings.element(t, k)
            if e is not None:
                postings.add_to(overlap, e)
                shared += 1
        if not shared:
            return 0.0, 0  # nothing shared: every score is 0, argmax is 0
        query = self._sequence(tids)
        # LCS <= overlap o, and an item with LCS <= o scores at most
        # F(o, m, o) whatever its length: visit items by decreasing overlap
        # until that bound falls below the best score found (or the floor);
        # within a bucket, only lengths whose bound F(min(o, n), m, n) reaches
        # the best score, best bound first.
        short = self._short_lens.view()
        best = (-1.0, -1)
        for o in range(int(overlap.max()), 0, -1):
            level = max(best[0], floor)
            if _overlap_bound(o, m) + _EPS < level:
                break
            mask = overlap == o
            if level > 0:
                n_lo, n_hi = _length_window(o, m, level)
                if n_lo > n_hi:
                    continue
                if n_lo > 1:
                    mask &= short >= min(n_lo, _SHORT_MAX)
                if n_hi < self._max_len:
                    mask &= short <= min(n_hi, _SHORT_MAX)
            items = np.flatnonzero(mask)
            best = self._visit(query, m, items, o, floor, best)
        if best[1] < 0:  # max <= floor, nothing evaluated: report a true pair's score
            top = np.flatnonzero(overlap == overlap.max())[:1]
            best = self._evaluate(query, m, top, best)
        return best

    def _visit(
        self,
        query: str | list[int],
        m: int,
        items: np.ndarray,
        overlap: int,
        floor: float,
        best: tuple[float, int],
    ) -> tuple[float, int]:
        """Branch and bound: exact scores of `items` in decreasing bound order."""
        n = self._lens.view()[items]
        bound = _scores(np.minimum(n, overlap), m, n, self._max_len)
        order = np.argsort(-bound, kind="stable")  # ties: lower index first
        items, bound = items[order], bound[order]
        start, chunk = 0, 32
        while start < len(items) and bound[start] + _EPS >= max(best[0], floor):
            stop = start + chunk
            best = self._evaluate(query, m, items[start:stop], best)
            start, chunk = stop, 2 * chunk
        return best

    def _evaluate(
        self, query: str | list[int], m: int, items: np.ndarray, best: tuple[float, int]
    ) -> tuple[float, int]:
        """Exact scores of `items`; returns the better of them and `best`."""
        if not len(items):
            return best
        seqs = self._seqs
        lcs = process.cdist(
            [query],
            [seqs[i] for i in items.tolist()],
            scorer=LCSseq.similarity,
            dtype=np.int32,
        )[0]
        scores = _scores(lcs, m, self._lens.view()[items], self._max_len)
        top = scores.max()
        if top < best[0]:
            return best
        index = int(items[scores == top].min())
        if top > best[0] or index < best[1]:
            return float(top), index
        return best


@lru_cache(maxsize=4096)
def _overlap_bound(overlap: int, m: int) -> float:
    """Max F of an item sharing at most `overlap` tokens with the query, any length."""
    return f_measure(overlap, m, overlap) if overlap > 0 else 0.0


@lru_cache(maxsize=1 << 16)
def _length_window(overlap: int, m: int, level: float) -> tuple[int, int]:
    """Item lengths n whose bound F(min(overlap, n), m, n) may reach `level`.

    The bound rises with n up to n = overlap (L = n) and falls after it
    (L = overlap), so the lengths form an interval around `overlap`.
    """
    if level <= 0:
        return 1, 1 << 30

    def reaches(lcs: int, n: int) -> bool:
        return f_measure(lcs, m, n) + _EPS >= level

    if not reaches(overlap, overlap):
        return 1, 0
    # 2L / (m + n) >= level  <=>  n >= level*m / (2-level) (rising side, L = n)
    lo = min(overlap, max(1, int(level * m / (2 - level)) - 1))
    while lo > 1 and reaches(lo - 1, lo - 1):
        lo -= 1
    while not reaches(lo, lo):
        lo += 1
    # ... and n <= 2*overlap/level - m on the falling side (L = overlap).
    hi = max(overlap, int(2 * overlap / level) - m + 1)
    while hi > overlap and not reaches(overlap, hi):
        hi -= 1
    while reaches(overlap, hi + 1):
        hi += 1
    return lo, hi


def _texts(texts: Iterable[str]) -> Iterable[str]:
    if isinstance(texts, str):  # a lone string would be indexed char by char
        raise TypeError("expected a list of texts, got a single str")
    return texts


def _char(token_id: int) -> str:
    return chr(token_id if token_id < 0xD800 else token_id + _SURROGATES)


def _char_id(char: str) -> int:
    cp = ord(char)
    return cp if cp < 0xD800 else cp - _SURROGATES


def _f_measure_array(lcs: np.ndarray, m: int, n: np.ndarray) -> np.ndarray:
    """Vectorized `f_measure`: same IEEE operations in the same order."""
    lcs = lcs.astype(np.float64)
    n = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / n
        recall = lcs / m
        total = precision + recall
        f = 2 * precision * recall / total
    return np.where((n > 0) & (total > 0), f, 0.0)


def _scores(lcs: np.ndarray, m: int, n: np.ndarray, max_len: int) -> np.ndarray:
    """F-measures for LCS lengths `lcs` (<= m) against items of lengths `n` (<= max_len)."""
    width = 1 << max_len.bit_length()  # > max_len; tables rebuilt only on doubling
    if (m + 1) * width <= _TABLE_MAX:
        return _score_table(m, width)[lcs, n]
    return _f_measure_array(lcs, m, n)


@lru_cache(maxsize=256)
def _score_table(m: int, width: int) -> np.ndarray:
    """F(L, m, n) for L in 0..m, n in 0..width-1: one gather instead of five ufuncs."""
    table = _f_measure_array(np.arange(m + 1)[:, None], m, np.arange(width))
    table.flags.writeable = False
    return table
