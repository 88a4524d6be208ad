"""Training curves as PNG (matplotlib, imported lazily so serving never pays for it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def plot_curves(rows: Sequence[dict[str, Any]], path: Path, panels: Sequence[tuple[str, Sequence[str]]]) -> Path | None:
    """One panel per ``(title, metric names)``, epochs on the x axis; returns the path written.

    A missing plotting library or an empty history only skips the picture: curves are a convenience,
    never a reason to fail a training job.
    """
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        logger.warning("matplotlib is not installed; skipping %s", path.name)
        return None
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, names) in zip(axes[0], panels, strict=True):
        for name in names:
            ys = [r.get(name) for r in rows]
            if any(y is not None for y in ys):
                ax.plot(epochs, ys, marker="o", markersize=3, label=name)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
