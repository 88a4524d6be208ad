"""The built-in training job: CSV rows with a header (features, then the label column) -> a logistic regression.

scikit-learn's ``SGDClassifier`` with the logistic loss, trained epoch by epoch (``partial_fit``) so that a
SIGTERM (StopTrainingJob, a spot interruption) ends the job between two epochs. The model is saved as numbers
only (``model.npz``: the scaler's and the classifier's arrays; ``model.json``: the column names), so serving
never unpickles anything. ``python -m sklearn_template.training`` runs it as a program (several hosts).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

from sm_contract import channels, hyperparameters
from sm_contract.environment import TrainingEnv
from sm_contract.errors import ConfigurationError, DataError, TrainingInterrupted
from sm_contract.metrics import format_metrics
from sm_contract.training import StopSignal, run_training

logger = logging.getLogger(__name__)

MODEL_FILE, SPEC_FILE = "model.npz", "model.json"


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 50
    alpha: float = 0.0001  # L2 regularisation strength
    label: str = "label"  # the label column's name
    seed: int = 0

    def validate(self) -> None:
        if self.epochs < 1:
            raise ConfigurationError("hyperparameter 'epochs' must be >= 1")
        if not self.alpha > 0:
            raise ConfigurationError("hyperparameter 'alpha' must be > 0")


@dataclass(frozen=True)
class Table:
    columns: list[str]  # the feature columns
    features: np.ndarray
    labels: np.ndarray


def read_table(folder: Path, label: str) -> Table:
    """Every ``*.csv`` of a channel folder: one header, then rows of numbers and a label."""
    files = sorted(folder.glob("*.csv"))
    if not files:
        present = ", ".join(sorted(p.name for p in folder.iterdir())[:10]) or "no files"
        raise DataError(f"channel folder {folder} holds no .csv file (it holds: {present})")
    columns: list[str] = []
    rows: list[list[str]] = []
    for path in files:
        reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8")))
        header = next(reader, [])
        if label not in header:
            raise DataError(f"{path.name}: no column '{label}' in the header {header} (hyperparameter 'label')")
        columns = columns or [name for name in header if name != label]
        index = header.index(label)
        rows += [row[:index] + row[index + 1 :] + [row[index]] for row in reader if row]
    try:
        features = np.array([[float(value) for value in row[:-1]] for row in rows])
    except ValueError as exc:
        raise DataError(f"{folder}: a feature is not a number ({exc})") from None
    return Table(columns, features, np.array([row[-1] for row in rows]))


def train(env: TrainingEnv, stop: StopSignal) -> None:
    """The image's training job (called by ``sm_contract.training.run_training``)."""
    hp = hyperparameters.parse(Hyperparameters, env.hyperparameters)
    train_dir = channels.channel_dir(env, "train")
    assert train_dir is not None  # a required channel
    table = read_table(train_dir, hp.label)
    valid_dir = channels.channel_dir(env, "validation", required=False)
    valid = read_table(valid_dir, hp.label) if valid_dir else None
    scaler = StandardScaler().fit(table.features)
    model = SGDClassifier(loss="log_loss", alpha=hp.alpha, random_state=hp.seed)
    classes = np.unique(table.labels)
    logger.info("training on %d rows, %d features, classes %s", len(table.labels), len(table.columns), classes)
    for epoch in range(1, hp.epochs + 1):
        if stop.requested:
            raise TrainingInterrupted(f"stopped after epoch {epoch - 1} of {hp.epochs}; nothing saved")
        model.partial_fit(scaler.transform(table.features), table.labels, classes=classes)
        metrics = {"train_accuracy": model.score(scaler.transform(table.features), table.labels)}
        if valid is not None:
            metrics["val_accuracy"] = model.score(scaler.transform(valid.features), valid.labels)
        logger.info(format_metrics(epoch, metrics))
    if env.is_master:
        save(env.paths.model_dir, table.columns, scaler, model)


def save(model_dir: Path, columns: list[str], scaler: StandardScaler, model: SGDClassifier) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    arrays = {"mean": scaler.mean_, "scale": scaler.scale_, "coef": model.coef_, "intercept": model.intercept_}
    np.savez(model_dir / MODEL_FILE, classes=model.classes_.astype(str), **arrays)
    (model_dir / SPEC_FILE).write_text(json.dumps({"columns": columns}), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(run_training(train))
