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
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

__all__ = ["RougeLIndex", "RougeLMatch", "rouge_l_f", "tokenize"]

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


class RougeLIndex:
    """Growing pool of texts answering exact max-ROUGE-L queries.

    Attributes:
        tokenizer: ``"rouge_score"`` (default, rouge-score compatible) or
            ``"unicode"`` (see the module docstring).

    Examples:
        >>> idx = RougeLIndex()
        >>> idx.add(["Write a poem about the sea."])
        >>> idx.best_match("Write a poem about the ocean.")
        RougeLMatch(score=0.8333333333333334, index=0)
    """

    def __init__(self, tokenizer: str = "rouge_score") -> None:
        tokenize("", tokenizer)  # validates the name
        self.tokenizer = tokenizer
        self._vocab: dict[str, int] = {}
        self._seqs: list[list[int]] = []
        self._lens: list[int] = []

    def __len__(self) -> int:
        return len(self._seqs)

    def _encode(self, text: str, grow: bool) -> list[int]:
        vocab = self._vocab
        out = []
        for tok in tokenize(text, self.tokenizer):
            tid = vocab.get(tok)
            if tid is None:
                tid = len(vocab) if grow else -1 - len(out)  # unseen: matches nothing
                if grow:
                    vocab[tok] = tid
            out.append(tid)
        return out

    def add(self, texts: Iterable[str]) -> None:
        """Appends `texts` to the pool; their ids are the next positions."""
        for text in texts:
            seq = self._encode(text, grow=True)
            self._seqs.append(seq)
            self._lens.append(len(seq))

    def best_match(self, text: str) -> RougeLMatch:
        """Exact maximum ROUGE-L F-measure of `text` over the pool, with its position."""
        if not self._seqs:
            return RougeLMatch(0.0, -1)
        seq = self._encode(text, grow=False)
        m = len(seq)
        if m == 0:
            return RougeLMatch(0.0, 0)
        lcs = process.cdist(
            [seq], self._seqs, scorer=LCSseq.similarity, dtype=np.int32
        )[0]
        scores = _f_measure_array(lcs, m, np.asarray(self._lens))
        best = int(np.argmax(scores))
        return RougeLMatch(float(scores[best]), best)

    def filter_batch(
        self, texts: Iterable[str], threshold: float = 0.7
    ) -> list[tuple[RougeLMatch, bool]]:
        """Scores texts in order, appending each accepted one to the pool.

        A text is accepted when its best score is ``<= threshold`` (rejected when
        ``> threshold``, as in Self-Instruct), and is then part of the pool that
        the following texts of the batch are compared against.
        """
        out = []
        for text in texts:
            match = self.best_match(text)
            accepted = not match.score > threshold
            if accepted:
                self.add([text])
            out.append((match, accepted))
        return out


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
