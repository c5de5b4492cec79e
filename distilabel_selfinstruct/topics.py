"""Topic steering: the topic list a run steers its instruction prompts toward.

A topic file is plain text (one topic per line; blank lines and `#` comments skipped) or a
YAML taxonomy (`.yaml`/`.yml`: nested mappings and lists, whose leaves become topics named
by their path, "Science / Physics / Optics"). `TopicPolicy` picks a topic per prompt,
favouring those with fewer tasks in the pool so far.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Union

TOPIC_SEPARATOR = " / "
MAX_TOPIC_CHARS = 200


class TopicFileError(ValueError):
    """A topic file that cannot be used (one line naming the file and line)."""


def _leaves(node: Any, path: tuple[str, ...], where: str) -> Iterable[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _leaves(child, (*path, str(key).strip()), where)
    elif isinstance(node, list):
        for child in node:
            yield from _leaves(child, path, where)
    elif node is None:
        if path:
            yield TOPIC_SEPARATOR.join(path)
    elif isinstance(node, (str, int, float)):
        yield TOPIC_SEPARATOR.join((*path, str(node).strip()))
    else:
        raise TopicFileError(f"{where}: a topic must be text, not {type(node).__name__}")


def load_topics(path: Union[str, Path]) -> list[str]:
    """The topics of a file, in file order, without duplicates.

    Raises:
        TopicFileError: the file is missing, unreadable, malformed or holds no topic.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopicFileError(f"{path}: no such topic file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TopicFileError(f"{path}: cannot be read ({error})") from None
    topics: list[str] = []
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            tree = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f"{mark.line + 1}:" if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise TopicFileError(f"{path}:{line} not a YAML taxonomy ({problem})") from None
        topics = [topic for topic in _leaves(tree, (), str(path)) if topic.strip()]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            topic = line.split("#", 1)[0].strip()
            if not topic:
                continue
            if len(topic) > MAX_TOPIC_CHARS:
                raise TopicFileError(
                    f"{path}:{number}: a topic of {len(topic)} characters (at most"
                    f" {MAX_TOPIC_CHARS}): is this a topic list?"
                )
            topics.append(topic)
    topics = list(dict.fromkeys(topics))
    if not topics:
        raise TopicFileError(f"{path}: holds no topic")
    return topics


class TopicPolicy:
    """Picks the topic of each prompt, favouring the under-represented.

    A topic's weight is `1 / (1 + n)`, where `n` counts the pool's tasks on it plus the
    prompts already given it in this round: a topic without tasks is drawn most, and one
    the model never turns into accepted tasks still does not take every prompt.
    """

    def __init__(self, topics: list[str]) -> None:
        if not topics:
            raise ValueError("a topic policy needs at least one topic")
        self.topics = list(topics)

    def weights(self, counts: Counter[str]) -> list[float]:
        return [1.0 / (1 + counts.get(topic, 0)) for topic in self.topics]

    def choose(self, rng: random.Random, counts: Counter[str], prompts: int) -> list[str]:
        """Topics for `prompts` prompts, given the pool's tasks per topic."""
        counts = Counter(counts)
        chosen: list[str] = []
        for _ in range(prompts):
            (topic,) = rng.choices(self.topics, weights=self.weights(counts), k=1)
            counts[topic] += 1
            chosen.append(topic)
        return chosen
