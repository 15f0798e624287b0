"""A tiny linear backstop: hashed character n-grams + softmax regression (numpy).

Rules are precise and explain themselves but miss paraphrases they were not
written for ("zusammengesackt", "Schmerztabletten", "ending my life"). Character
n-grams of the folded words share stems and compound heads with the training
sentences, so a linear model over them catches some of those. It is trained
offline on the development set (``scripts/train_escalation_model.py``), ships
as a small ``.npz`` of its non-zero weights, and runs in well under a
millisecond. The detector asks it only when no rule fired and no cue was
negated or blocked, and records its probability as the reason.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from appliance.escalation.results import LABELS, Label
from appliance.escalation.text import fold

DIMENSIONS = 1 << 16
NGRAMS = (3, 4, 5)
MODEL_PATH = Path(__file__).with_name("model.npz")

FloatArray = npt.NDArray[np.float32]


def features(text: str) -> dict[int, float]:
    """L2-normalised counts of hashed character n-grams and word bigrams."""
    words = fold(text).split()
    counts: dict[int, float] = {}
    for word in words:
        marked = f"<{word}>"
        for n in NGRAMS:
            for i in range(len(marked) - n + 1):
                key = zlib.crc32(marked[i : i + n].encode()) % DIMENSIONS
                counts[key] = counts.get(key, 0.0) + 1.0
    for first, second in pairwise(words):
        key = zlib.crc32(f"{first}_{second}".encode()) % DIMENSIONS
        counts[key] = counts.get(key, 0.0) + 1.0
    norm = float(np.sqrt(sum(v * v for v in counts.values()))) or 1.0
    return {k: v / norm for k, v in counts.items()}


@dataclass(frozen=True)
class LinearModel:
    rows: npt.NDArray[np.int64]  # sorted hashed feature ids with non-zero weights
    weights: FloatArray  # (len(rows), len(LABELS))
    bias: FloatArray  # (len(LABELS),)

    def probabilities(self, text: str) -> dict[Label, float]:
        found = features(text)
        keys = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
        values = np.fromiter(found.values(), dtype=np.float64, count=len(found))
        at = np.minimum(np.searchsorted(self.rows, keys), len(self.rows) - 1)
        known = self.rows[at] == keys
        logits = self.bias.astype(np.float64) + values[known] @ self.weights[at[known]]
        logits -= logits.max()
        exp = np.exp(logits)
        probs = exp / exp.sum()
        return {label: float(p) for label, p in zip(LABELS, probs, strict=True)}

    def save(self, path: Path) -> None:
        np.savez_compressed(path, rows=self.rows, weights=self.weights, bias=self.bias)

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        with np.load(path) as data:
            return cls(
                rows=data["rows"].astype(np.int64),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
            )


def train(
    texts: Sequence[str],
    labels: Sequence[Label],
    *,
    epochs: int = 300,
    learning_rate: float = 2.0,
    l2: float = 1e-3,
) -> LinearModel:
    """Full-batch gradient descent from zero weights: deterministic for the same data."""
    rows_seen = sorted({k for t in texts for k in features(t)})
    column = {k: i for i, k in enumerate(rows_seen)}
    x = np.zeros((len(texts), len(rows_seen)), dtype=np.float32)
    for i, text in enumerate(texts):
        for key, value in features(text).items():
            x[i, column[key]] = value
    y = np.eye(len(LABELS), dtype=np.float32)[[LABELS.index(label) for label in labels]]
    w = np.zeros((len(rows_seen), len(LABELS)), dtype=np.float32)
    b = np.zeros(len(LABELS), dtype=np.float32)
    for _ in range(epochs):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - y) / len(texts)
        w -= learning_rate * (x.T @ grad + l2 * w)
        b -= learning_rate * grad.sum(axis=0)
    return LinearModel(np.asarray(rows_seen, dtype=np.int64), w, b)


def load_default() -> LinearModel | None:
    """The shipped model, or None if the file is missing (rules still work)."""
    return LinearModel.load(MODEL_PATH) if MODEL_PATH.exists() else None
