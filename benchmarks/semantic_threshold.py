"""Calibrates the semantic filter's threshold on hand-labelled instruction pairs.

    .venv/bin/python -m benchmarks.semantic_threshold

Reads tests/filters/data/paraphrase_pairs.jsonl (paraphrase / non-paraphrase pairs, every
paraphrase below ROUGE-L 0.7) and prints, for the offline default embeddings and for
ROUGE-L, the precision and recall of "near-duplicate" at several thresholds: a pair is
flagged when its cosine (or ROUGE-L F) is above the threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distilabel_selfinstruct.embeddings import MiniLMEmbeddings
from distilabel_selfinstruct.filters.embedding_index import normalized
from distilabel_selfinstruct.filters.rouge_index import RougeLIndex

PAIRS = Path(__file__).resolve().parent.parent / "tests/filters/data/paraphrase_pairs.jsonl"
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def load_pairs() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]


def cosines(pairs: list[dict]) -> np.ndarray:
    embeddings = MiniLMEmbeddings()
    embeddings.load()
    a = normalized(embeddings.encode([pair["a"] for pair in pairs]))
    b = normalized(embeddings.encode([pair["b"] for pair in pairs]))
    return np.sum(a * b, axis=1)


def rouge_scores(pairs: list[dict]) -> np.ndarray:
    scores = []
    for pair in pairs:
        index = RougeLIndex()
        index.add([pair["a"]])
        scores.append(index.best_match(pair["b"]).score)
    return np.array(scores)


def precision_recall(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple:
    flagged = scores > threshold
    true_positive = int(np.sum(flagged & labels))
    precision = true_positive / int(np.sum(flagged)) if np.any(flagged) else float("nan")
    return precision, true_positive / int(np.sum(labels)), int(np.sum(flagged & ~labels))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The chance that a random paraphrase pair scores above a random other pair."""
    positives, negatives = scores[labels], scores[~labels]
    wins = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((wins + 0.5 * ties) / (len(positives) * len(negatives)))


def main() -> None:
    pairs = load_pairs()
    labels = np.array([bool(pair["paraphrase"]) for pair in pairs])
    kinds = [pair["kind"] for pair in pairs]
    print(f"{len(pairs)} pairs: {int(labels.sum())} paraphrases, {int((~labels).sum())} not")
    scores = cosines(pairs)
    print("\n| scorer | threshold | precision | recall | false positives |")
    print("| --- | --- | --- | --- | --- |")
    for threshold in THRESHOLDS:
        p, r, fp = precision_recall(scores, labels, threshold)
        print(f"| MiniLM cosine | {threshold:.2f} | {p:.0%} | {r:.0%} | {fp} |")
    p, r, fp = precision_recall(rouge_scores(pairs), labels, 0.7)
    print(f"| ROUGE-L | 0.70 | {p:.0%} | {r:.0%} | {fp} |")
    print(f"\nROC AUC: MiniLM cosine {auc(scores, labels):.3f}")
    print("mean cosine per kind:")
    for kind in sorted(set(kinds)):
        values = scores[[k == kind for k in kinds]]
        print(f"  {kind}: mean {values.mean():.3f}, min {values.min():.3f}, max {values.max():.3f}")


if __name__ == "__main__":
    main()
