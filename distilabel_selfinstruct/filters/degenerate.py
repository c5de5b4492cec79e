"""Degenerate text: what the paper's filters let through from a small model.

Each check is a pure function that scores one text (or one label set) and names what it
found; the decision is the caller's (`FilterInstances`, `FilterInstructions`), against a
threshold it owns. The checks, and the reason each drop is recorded with:

- `repetition_score`: the share of an output's (or input's) words inside a repeated
  sentence or a repeated word 4-gram: loops such as one sentence three times
  (`repeated_text`).
- `run_on_start`: where the text runs on into something that is not ours: a numbered item
  that no list of its own began, a field or task marker (`Instruction:`, `Question:`), or
  words copied from a seed demonstration of the prompt. What comes before is kept when it
  is a complete answer (the instance is cut); otherwise the instance goes (`runs_on`).
- `markup_found`: HTML tags or template and chat-control markers left in the text, unless
  the task is about markup (`markup`).
- `restatement_score`: the output's ROUGE-L to its own instruction, when nearly all its
  words are the instruction's: an output that only repeats the task
  (`restates_instruction`).
- `label_set_problem`: a classification task whose labels are not a label set: free text
  the instruction does not name, labels of different kinds (yes/no, numbers, words: "Birthday,
  Yes", "Number, 2, 4"), or an open-ended instruction ("Explain why ...") answered with
  labels (`implausible_labels`).

Their precision and recall on hand-labelled real replies are in `docs/quality.md`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Optional

from distilabel_selfinstruct.filters.rouge_index import rouge_l_f
from distilabel_selfinstruct.seeds import SeedTask

# -- repetition ---------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+(?:['’]\w+)*")
NGRAM = 4
# Sentences shorter than this may repeat on purpose ("Yes." "No.").
MIN_SENTENCE_WORDS = 4


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def repetition_score(text: str) -> float:
    """Share of the words of `text` that repeat what it said before: in a sentence seen
    earlier (of at least `MIN_SENTENCE_WORDS` words), or in a word 4-gram seen earlier.
    0 for text without repeats; near 1 for a loop."""
    words = _words(text)
    if len(words) < 2 * NGRAM:
        return 0.0
    repeated_sentence_words = 0
    seen: set[tuple[str, ...]] = set()
    for sentence in _SENTENCE_END.split(text):
        key = tuple(_words(sentence))
        if len(key) < MIN_SENTENCE_WORDS:
            continue
        if key in seen:
            repeated_sentence_words += len(key)
        seen.add(key)
    covered = [False] * len(words)
    grams: set[tuple[str, ...]] = set()
    for start in range(len(words) - NGRAM + 1):
        gram = tuple(words[start : start + NGRAM])
        if gram in grams:
            for position in range(start, start + NGRAM):
                covered[position] = True
        grams.add(gram)
    return max(repeated_sentence_words, sum(covered)) / len(words)


# -- run-on -------------------------------------------------------------------------------

_NUMBERED = re.compile(r"^[ \t]*(\d{1,2})[.)][ \t]+\S", re.MULTILINE)
_MARKER = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?(?:\*\*)?(Instruction|Task|Question|Answer|Q|A|Input|Output"
    r"|Class[ \t]*label|Response|User|Assistant)[ \t]*(?:\*\*)?[ \t]*:",
    re.MULTILINE | re.IGNORECASE,
)
# Words in a row shared with a seed demonstration that count as copied from it.
COPY_WORDS = 8
_TERMINAL = (".", "!", "?", '"', "'", ")", "]", "`", "”", "’", ":")
# A line this short needs no closing punctuation to be a whole answer ("Paris", "42").
SHORT_ANSWER_WORDS = 6


def _numbered_run_on(text: str) -> Optional[int]:
    """The start of a numbered item when the text began no numbered list of its own (its
    first item is not 1): the model carrying on with the prompt's list of tasks."""
    first = _NUMBERED.search(text)
    if first is not None and first.start() == 0:
        # The text opens with its own item (or a number answer: "42. Because ..."): any
        # list that follows is the text's own.
        return None
    if first is None or first.group(1) in ("1", "0"):
        return None
    return first.start()


def _marker_run_on(text: str, own: tuple[str, ...]) -> Optional[int]:
    """The start of a line opening with a field marker of a prompt ("Question:"), unless
    the task itself speaks of that field (a task that asks for a quiz has questions)."""
    context = " ".join(own).lower()
    for match in _MARKER.finditer(text):
        if match.start() > 0 and match.group(1).lower() not in context:
            return match.start()
    return None


def _shingles_of(texts: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    shingles: set[tuple[str, ...]] = set()
    for text in texts:
        words = _words(text)
        shingles.update(
            tuple(words[i : i + COPY_WORDS]) for i in range(len(words) - COPY_WORDS + 1)
        )
    return frozenset(shingles)


# Cached: a run passes the same demonstrations for every instance (the task's own texts
# differ every time, and caching them would keep every instance of the run in memory).
_demonstration_shingles = cache(_shingles_of)


def _copied_run_on(
    text: str, demonstrations: tuple[str, ...], own: tuple[str, ...]
) -> Optional[int]:
    """The start of the line where `COPY_WORDS` words in a row from a demonstration begin,
    unless the task's own instruction or input holds them too."""
    if not demonstrations:
        return None
    copied = _demonstration_shingles(demonstrations) - _shingles_of(own)
    matches = list(_WORD.finditer(text))
    words = [match.group().lower() for match in matches]
    for start in range(len(words) - COPY_WORDS + 1):
        if tuple(words[start : start + COPY_WORDS]) in copied:
            offset = matches[start].start()
            return text.rfind("\n", 0, offset) + 1
    return None


def demonstration_texts(seeds: Iterable[SeedTask]) -> tuple[str, ...]:
    """Every text a prompt's seed demonstrations may show: instructions, inputs, outputs."""
    return tuple(
        text
        for seed in seeds
        for text in (seed.instruction, *(p for i in seed.instances for p in (i.input, i.output)))
        if text
    )


def run_on_start(
    text: str, *, demonstrations: tuple[str, ...] = (), own: tuple[str, ...] = ()
) -> Optional[int]:
    """Where `text` runs on into something that is not ours (see the module docstring),
    `None` if it does not.

    Args:
        text: an output.
        demonstrations: texts of the seed tasks the prompt may have shown.
        own: the task's instruction and input, which the output may quote.
    """
    starts = [
        start
        for start in (
            _numbered_run_on(text),
            _marker_run_on(text, own),
            _copied_run_on(text, demonstrations, own),
        )
        if start is not None
    ]
    return min(starts) if starts else None


def is_complete_answer(text: str) -> bool:
    """Whether `text` reads as a whole answer on its own: it ends a sentence, or is one
    short line."""
    text = text.strip()
    if not text:
        return False
    if text.endswith(_TERMINAL):
        return True
    return "\n" not in text and len(text.split()) <= SHORT_ANSWER_WORDS


# -- markup -------------------------------------------------------------------------------

_HTML_TAG = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|p|br|hr|div|span|ul|ol|li|h[1-6]|table|tr|td|th|code|pre"
    r"|img|sup|sub|blockquote|font|center|html|body|head|title|script|style)\b[^<>]{0,200}>",
    re.IGNORECASE,
)
_TEMPLATE = re.compile(
    r"\{\{|\}\}|\{%|%\}|<\|[^|<>]{1,40}\|>|\[/?INST\]|</?s>|<(?:start|end)_of_turn>"
    r"|<(?:bos|eos)>|<noinput>",
    re.IGNORECASE,
)
# A text that is nothing but a marker of its own making ("<nochoice>", "<noanswer>").
_LONE_MARKER = re.compile(r"\s*<[a-z_]{2,30}>\s*", re.IGNORECASE)
# A task that is about markup may have it in its output.
_ABOUT_MARKUP = re.compile(
    r"\b(?:html|xml|markup|markdown|tags?|web ?pages?|css|jinja|templates?|latex|svg)\b",
    re.IGNORECASE,
)


def markup_found(text: str, *, context: str = "") -> Optional[str]:
    """The first leftover markup in `text` (a tag or a template marker), `None` if there is
    none, or if the text or its `context` (the task's instruction and input) is about
    markup (names it, or holds tags itself)."""
    match = _HTML_TAG.search(text) or _TEMPLATE.search(text) or _LONE_MARKER.fullmatch(text)
    if match is None or _ABOUT_MARKUP.search(f"{text}\n{context}") or _HTML_TAG.search(context):
        return None
    return match.group()


# -- restatement --------------------------------------------------------------------------


# Share of an output's words that must come from its instruction before the output can
# be a restatement: "The capital of France is Paris." echoes its question (0.83) and
# answers it.
MIN_RESTATED_SHARE = 0.85
# Outputs this short are answers, not restatements.
MIN_RESTATED_WORDS = 4


def restatement_score(output: str, instruction: str) -> float:
    """ROUGE-L F of the output to its own instruction when nearly every word of the output
    (`MIN_RESTATED_SHARE`) is the instruction's, else 0: near 1 when the output only says
    the task again, 0 for an output that adds words of its own however similar it is."""
    words = _words(output)
    if len(words) < MIN_RESTATED_WORDS or not instruction.strip():
        return 0.0
    own = set(_words(instruction))
    if sum(word in own for word in words) / len(words) < MIN_RESTATED_SHARE:
        return 0.0
    return rouge_l_f(output, instruction)


# -- label sets ---------------------------------------------------------------------------

_NUMBER = re.compile(r"^[-+]?\$?\d[\d,]*(?:\.\d+)?%?$")
_YES_NO = {"yes", "no", "true", "false", "y", "n", "correct", "incorrect", "right", "wrong"}
# Verbs that ask for free text: a task opening with one is not a classification task.
_OPEN_ENDED = re.compile(
    r"^\s*(?:please\s+)?(?:explain|describe|write|compose|generate|create|list|give\s+me\s+a"
    r"\s+list|summari[sz]e|suggest|design|draft|tell\s+me\s+(?:about|why|how)|why|how\s+(?:do"
    r"|does|can|would|should|to))\b",
    re.IGNORECASE,
)
# Words a label may have before it reads as a sentence, not a class (the paper's seeds
# have labels of up to six words: "yes, the thread contains hate speech.").
MAX_LABEL_WORDS = 6


def _kind(label: str) -> str:
    if _NUMBER.match(label):
        return "number"
    if label.lower().rstrip(".!") in _YES_NO:
        return "yes/no"
    return "word"


def label_set_problem(instruction: str, labels: list[str]) -> Optional[str]:
    """Why the labels of a classification task are not a plausible label set, `None` if
    they are. `labels` are the outputs of its instances."""
    distinct = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    if not distinct:
        return None
    if _OPEN_ENDED.search(instruction):
        return "the instruction asks for free text"
    wordy = [label for label in distinct if len(label.split()) > MAX_LABEL_WORDS]
    if wordy and not all(label.lower() in instruction.lower() for label in wordy):
        return f"free-text labels: {wordy[0][:60]}"
    kinds = Counter(_kind(label) for label in distinct)
    if len(kinds) > 1:
        return f"labels of different kinds ({', '.join(sorted(kinds))}): {', '.join(distinct)}"
    return None
