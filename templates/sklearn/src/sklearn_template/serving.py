"""The built-in model's handler: CSV rows or JSON instances -> a label per row (CSV) or labels and
probabilities (JSON)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping

import numpy as np
from sklearn.linear_model import SGDClassifier

from sm_contract import codecs
from sm_contract import content_types as ct
from sm_contract.environment import RequestLimits, ServingEnv
from sm_contract.errors import InvalidPayloadError, ModelLoadError

from .training import MODEL_FILE, SPEC_FILE  # relative: the package's name is the image's


class Handler:
    content_types = (ct.CSV, ct.JSON)
    accept_types = (ct.CSV, ct.JSON)
    runs_on_event_loop = True  # NumPy only, never a call back into the server

    def __init__(self, arrays: Mapping[str, np.ndarray], columns: list[str], limits: RequestLimits) -> None:
        self.mean, self.scale, self.columns, self.limits = arrays["mean"], arrays["scale"], columns, limits
        # The fitted classifier's arrays set on a new one: scikit-learn then predicts as it would have.
        self.model = SGDClassifier(loss="log_loss")
        self.model.coef_, self.model.intercept_ = arrays["coef"], arrays["intercept"]
        self.model.classes_, self.model.n_features_in_ = arrays["classes"], len(columns)

    @classmethod
    def load(cls, env: ServingEnv) -> Handler:
        path, spec = env.model_dir / MODEL_FILE, env.model_dir / SPEC_FILE
        if not path.is_file() or not spec.is_file():
            present = sorted(p.name for p in env.model_dir.iterdir()) if env.model_dir.is_dir() else []
            raise ModelLoadError(f"{MODEL_FILE} and {SPEC_FILE} expected in {env.model_dir} (it holds: {present})")
        try:
            with np.load(path, allow_pickle=False) as npz:  # numbers and strings only: nothing is unpickled
                arrays = {name: npz[name] for name in npz.files}
            columns = json.loads(spec.read_text(encoding="utf-8"))["columns"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelLoadError(f"unreadable model in {env.model_dir}: {exc}") from None
        return cls(arrays, columns, env.limits)

    def decode(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> np.ndarray:
        if content_type == ct.CSV:
            codecs.check_lines(body, self.limits, "CSV rows")
            rows = codecs.load_csv(body)
        else:
            value = codecs.load_json(body)
            instances = value.get("instances") if isinstance(value, dict) else value
            if not isinstance(instances, list) or not instances:
                raise InvalidPayloadError('JSON body must be {"instances": [[number, ...], ...]} or a list of rows')
            codecs.check_records(len(instances), self.limits, "rows")
            try:
                rows = np.asarray(instances, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InvalidPayloadError(f"JSON rows must be lists of numbers of one length: {exc}") from None
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        if rows.ndim != 2 or rows.shape[1] != len(self.columns):
            raise InvalidPayloadError(f"each row needs {len(self.columns)} numbers: {', '.join(self.columns)}")
        if not np.isfinite(rows).all():
            raise InvalidPayloadError("rows must hold finite numbers (no nan or inf)")
        return rows

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba((rows - self.mean) / self.scale))

    def encode(self, probabilities: np.ndarray, accept: str) -> bytes:
        labels = self.model.classes_[probabilities.argmax(axis=1)].tolist()
        if accept == ct.CSV:
            return codecs.dump_csv_column(labels)
        rounded = np.round(probabilities, 6).tolist()
        predictions = [{"label": k, "probabilities": p} for k, p in zip(labels, rounded, strict=True)]
        return codecs.dump_json({"predictions": predictions})
