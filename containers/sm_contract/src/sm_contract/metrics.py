"""Per-epoch metrics: one regex-friendly log line each, and a JSON history rewritten every epoch."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sm_contract.files import write_json
from sm_contract.plots import plot_curves

logger = logging.getLogger(__name__)


def format_metrics(epoch: int, metrics: Mapping[str, float]) -> str:
    """``epoch=3 train_loss=0.1200 val_accuracy=0.9700``: match with e.g. ``val_accuracy=([0-9.]+)``."""
    parts = [f"epoch={epoch}"]
    parts += [f"{name}={value:.6g}" for name, value in metrics.items()]
    return " ".join(parts)


def metric_definitions(names: list[str]) -> list[dict[str, str]]:
    """``MetricDefinitions`` for CreateTrainingJob that match the lines of :func:`format_metrics`."""
    return [{"Name": name, "Regex": rf"\b{name}=([-+0-9.eE]+|nan|inf)"} for name in names]


class MetricsHistory:
    """Collects one row per epoch and keeps ``path`` (JSON) up to date, so nothing is lost on interruption."""

    def __init__(self, path: Path, rows: list[dict[str, Any]] | None = None) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = list(rows or [])

    def log(self, epoch: int, metrics: Mapping[str, float], **extra: Any) -> None:
        logger.info(format_metrics(epoch, metrics))
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in metrics.items()}, **extra})
        write_json(self.path, self.rows, indent=1)

    @contextlib.contextmanager
    def curves_on_exit(self, path: Path, panels: Sequence[tuple[str, Sequence[str]]]) -> Iterator[None]:
        """Draw the training curves when the block ends, however it ends (a stopped run shows its progress)."""
        try:
            yield
        finally:
            plot_curves(self.rows, path, panels)
