"""Test-set metrics: accuracy, macro-F1 and the confusion matrix, as JSON and a PNG."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """counts[i, j] = rows of true class i predicted as j."""
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    counts = confusion(y_true, y_pred, len(labels))
    tp = np.diag(counts).astype(np.float64)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return {
        "rows": len(y_true),
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "macro_f1": float(f1.mean()),
        "labels": list(labels),
        "per_label": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, actual, strict=True)
        },
        "confusion_matrix": counts.tolist(),
    }


def plot_confusion(result: dict[str, Any], path: Path) -> Path | None:
    """Rows are true labels; ticks are label indices (the default fonts have no Japanese glyphs, see the JSON)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed; skipping %s", path.name)
        return None
    counts = np.asarray(result["confusion_matrix"])
    n = counts.shape[0]
    fig, ax = plt.subplots(figsize=(1.2 * n + 2, 1.2 * n + 1.5))
    ax.imshow(counts, cmap="Blues")
    for i in range(n):
        for j in range(n):
            color = "white" if counts[i, j] > counts.max() / 2 else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=color)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted label index")
    ax.set_ylabel("true label index")
    ax.set_title(f"accuracy {result['accuracy']:.3f}  macro-F1 {result['macro_f1']:.3f}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
