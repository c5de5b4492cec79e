"""The verb and direct object of an instruction, by rule (the paper's Figure 2 without a parser).

The paper parsed every instruction with the Berkeley Neural Parser and counted the verb closest
to the root with its first direct noun object. No such parser installs from the package
registries with its model: spaCy's English models and NLTK's tagger download their weights
from a hub at run time, and the PyPI copies of `en_core_web_sm` are third-party re-uploads.
So this module reads the imperative shape most instructions have, by rule:

1. the first sentence, lowercased, split into words;
2. a polite or modal opening is skipped ("please", "can you", "I want you to", ...);
3. the first word is the verb, unless it is a question word, an auxiliary, a pronoun or a
   determiner (then the instruction is a question or a statement: a form of "be" at its
   head gives `("be", None)`, anything else `(None, None)`);
4. after the verb an indirect object ("me", "us", ...) and a particle ("down", "up", ...)
   are skipped; a clause ("whether", "if", "how", "to", ...) or a pronoun means there is
   no noun object;
5. the object is the last word of the noun phrase that follows, which ends at a preposition,
   a conjunction, a relative word or punctuation ("a short story about ..." -> "story"),
   made singular.

Its accuracy against a hand-labelled parse of the paper's 175 seed instructions is measured
by tests/report/test_verbs.py and stated in docs/report.md.
"""

from __future__ import annotations

import re
from typing import Optional

_SENTENCE_END = re.compile(r"[.?!:;\n]")
_WORD = re.compile(r"[a-z][a-z'\-]*|\d+")

_OPENINGS: tuple[tuple[str, ...], ...] = (
    ("i", "want", "you", "to"),
    ("i", "would", "like", "you", "to"),
    ("i", "need", "you", "to"),
    ("can", "you", "please"),
    ("could", "you", "please"),
    ("would", "you", "please"),
    ("can", "you"),
    ("could", "you"),
    ("would", "you"),
    ("will", "you"),
    ("help", "me"),
    ("please",),
    ("kindly",),
    ("now",),
    ("then",),
    ("also",),
    ("next",),
    ("try", "to"),
)
_BE = {"is", "are", "was", "were", "be", "am", "isn't", "aren't", "what's", "that's", "it's"}
_NOT_A_VERB = _BE | {
    "what", "how", "why", "who", "whom", "whose", "when", "where", "which", "whether", "if",
    "do", "does", "did", "can", "could", "should", "would", "will", "shall", "may", "might",
    "must", "has", "have", "had", "i", "you", "we", "they", "he", "she", "it", "my", "your",
    "our", "their", "his", "her", "its", "this", "that", "these", "those", "the", "a", "an",
    "there", "here", "in", "on", "for", "of", "to", "from", "with", "as", "at", "by", "given",
    "suppose", "imagine", "let", "let's", "based", "using", "according", "after", "before",
    "some", "any", "all", "each", "every", "one", "no", "not", "and", "or", "but", "so",
    "someone", "somebody", "everyone", "everybody", "nobody", "people",
}  # fmt: skip
_INDIRECT = {"me", "us", "him", "her", "them"}
# A leading adverbial ("Given a sentence, ...", "In this task, ...") ends at its comma.
_ADVERBIAL = {"given", "using", "in", "to", "suppose", "as", "based", "after", "before", "for"}
_WH = {"how", "what", "why", "when", "where", "which", "who"}
_AUXILIARIES = {"do", "does", "did", "can", "could", "would", "should", "will", "might"}
_SUBJECTS = {"you", "i", "we", "they", "one"}
# "You are given a list ..." and "you are provided with ...": the verb is the participle's.
_PASSIVE = {"given": "give", "provided": "provide", "asked": "ask", "shown": "show"}
_PHRASAL = {"fill": "in", "find": "out", "make": "up"}
_PARTICLES = {"down", "up", "out", "off", "back", "over"}
_NO_NOUN_OBJECT = {
    "whether", "if", "how", "what", "why", "who", "whom", "when", "where", "which", "that",
    "to", "it", "this", "something", "anything", "everything", "nothing", "someone",
    "anyone", "one", "yourself", "myself", "them", "those", "these",
}  # fmt: skip
_DETERMINERS = {
    "a", "an", "the", "this", "that", "these", "those", "some", "any", "all", "each",
    "every", "my", "your", "our", "their", "his", "her", "its", "another", "other",
    "several", "many", "few", "more", "most", "no", "both", "either", "such", "following",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "first",
    "second", "third", "last", "next", "given",
}  # fmt: skip
_PHRASE_END = {
    "about", "for", "of", "to", "in", "on", "at", "by", "with", "from", "into", "onto",
    "as", "like", "than", "that", "which", "who", "whom", "whose", "where", "when", "while",
    "and", "or", "but", "so", "if", "whether", "because", "using", "based", "without",
    "within", "between", "among", "is", "are", "was", "were", "be", "can", "will",
    "should", "would", "could", "must", "may", "might", "do", "does", "did", "has", "have",
    "you", "i", "we", "they", "it", "he", "she", "me", "us", "them", "before",
    "after", "under", "over", "through", "per", "via", "against", "towards", "toward",
    "below", "above", "here", "up", "down", "out", "instead",
}  # fmt: skip
# They end an object that already has its noun: "the sentence more concise", "the change
# described".
_AFTER_THE_NOUN = {"more", "less"}
_NOT_PLURAL_ENDINGS = ("ss", "us", "is")
_NOT_PLURAL = {"bias", "canvas", "atlas", "alias", "gas", "news", "series", "species"}


def singular(word: str) -> str:
    """The singular of a regular English plural ("stories" -> "story"); others unchanged."""
    if len(word) <= 3 or word.endswith(_NOT_PLURAL_ENDINGS) or word in _NOT_PLURAL:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _verb_lemma(word: str) -> str:
    """Base form of a leading gerund ("solving" -> "solve", "writing" -> "write")."""
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiousl":
            return stem[:-1]  # "running" -> "run"
        if stem[-1] not in "aeiouy" and stem[-2] in "aeiou" and stem[-3] not in "aeiou":
            return stem + "e"  # "writing" -> "write", "solving" -> "solve"
        if stem.endswith(("v", "c", "z")):
            return stem + "e"
        return stem
    return word


def _is_adverb(word: str) -> bool:
    """ "politely", "ascendingly" (not "reply" or "supply")."""
    return word.endswith("ly") and len(word) > 6


def _is_modifier(word: str) -> bool:
    """A number or an adverb: never the head of the object."""
    return word.isdigit() or _is_adverb(word)


def _skip_opening(words: list[str]) -> list[str]:
    skipped = True
    while skipped and words:
        skipped = False
        for opening in _OPENINGS:
            if tuple(words[: len(opening)]) == opening:
                words = words[len(opening) :]
                skipped = True
                break
    return words


def _clauses(instruction: str) -> list[str]:
    """The first sentence's words, without a leading adverbial clause."""
    first = _SENTENCE_END.split(instruction.strip().lower(), maxsplit=1)[0]
    head, comma, tail = first.partition(",")
    opening = _WORD.findall(head)
    if comma and opening and opening[0] in _ADVERBIAL and _WORD.findall(tail):
        return _WORD.findall(tail)
    return _WORD.findall(first)


def verb_and_object(instruction: str) -> tuple[Optional[str], Optional[str]]:
    """(verb lemma, direct-object lemma) of an instruction; `None` where there is none."""
    words = _skip_opening(_clauses(instruction))
    if words and _is_adverb(words[0]) and len(words) > 1:  # "Politely decline ..."
        words = words[1:]
    if len(words) >= 4 and words[0] in _WH and words[1] in _AUXILIARIES:
        if words[2] in _SUBJECTS:  # "How would you explain X?": explain X
            words = words[3:]
    if len(words) >= 3 and words[:2] == ["you", "are"] and words[2] in _PASSIVE:
        verb, rest = _PASSIVE[words[2]], words[3:]
    elif not words:
        return None, None
    elif words[0] in _NOT_A_VERB or words[0].isdigit():
        if any(word in _BE for word in words[:3]):
            return "be", None
        return None, None
    else:
        verb, rest = _verb_lemma(words[0]), words[1:]
    while rest and rest[0] in _INDIRECT:
        rest = rest[1:]
    if rest and _PHRASAL.get(verb) == rest[0]:
        rest = rest[1:]
    while rest and rest[0] in _PARTICLES:
        rest = rest[1:]
    if not rest or rest[0].endswith("ing") and rest[0] not in _DETERMINERS:
        return verb, None
    if rest[0] in _NO_NOUN_OBJECT and not (
        rest[0] in _DETERMINERS and len(rest) > 1 and rest[1] not in _PHRASE_END
    ):
        return verb, None
    phrase: list[str] = []
    for word in rest:
        # "given" after a noun starts a clause ("a response given the history").
        has_noun = any(w not in _DETERMINERS for w in phrase)
        if (
            word in _PHRASE_END
            or has_noun
            and (
                word in _AFTER_THE_NOUN
                or (word == "given" or word.endswith("ed"))
                and phrase[-1] not in _DETERMINERS
            )
        ):
            break
        phrase.append(word)
    nouns = [w for w in phrase if w not in _DETERMINERS and not _is_modifier(w)]
    if not nouns or nouns[-1] in _NO_NOUN_OBJECT:  # "the largest one": a pronoun
        return verb, None
    return verb, singular(nouns[-1])
