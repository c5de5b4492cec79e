"""Unicode-aware tokenizer for the opt-in ``tokenizer="unicode"`` ROUGE-L mode.

rouge-score keeps only ``[a-z0-9]`` runs, so non-Latin text has no tokens. This
tokenizer case-folds, keeps runs of Unicode letters/digits/combining marks as
words (marks matter for scripts such as Devanagari, whose vowel signs are not
``str.isalnum``), and makes every Han, Hiragana and Katakana character a token
of its own, since those scripts do not separate words with spaces.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

# Scripts written without spaces between words: one token per character.
_CJK_RANGES = (
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK Unified Ideographs Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\uff66-\uff9f"  # Halfwidth Katakana
    "\U00020000-\U0003134f"  # CJK Extensions B-G, Compatibility Supplement
)


def _mark_ranges() -> str:
    """Regex class body with every combining mark (categories Mn, Mc, Me)."""
    ranges: list[str] = []
    start = prev = -2
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp))[0] == "M":
            if cp != prev + 1:
                if start >= 0:
                    ranges.append(_range(start, prev))
                start = cp
            prev = cp
    if start >= 0:
        ranges.append(_range(start, prev))
    return "".join(ranges)


def _range(lo: int, hi: int) -> str:
    return re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"


@lru_cache(maxsize=1)
def _token_re() -> re.Pattern[str]:
    # Built lazily: scanning the code space takes ~0.3 s and the mode is opt-in.
    marks = _mark_ranges()
    word = rf"(?:[^\W_{_CJK_RANGES}]|[{marks}])+"
    return re.compile(rf"[{_CJK_RANGES}]|{word}")


def unicode_tokens(text: str) -> list[str]:
    """Case-folded Unicode word tokens; each CJK character is its own token."""
    return _token_re().findall(text.casefold())
