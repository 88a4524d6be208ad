"""TF Serving's classify and regress APIs: JSON ``examples`` serialized to ``tf.train.Example``, and the results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_text.serving.tfs.values import bad, decode_strings, finite


def _feature(value: Any) -> Any:
    import tensorflow as tf

    values = value if isinstance(value, list) else [value]
    if all(isinstance(v, bool | int) for v in values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
    if all(isinstance(v, int | float) for v in values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
    if all(isinstance(v, str | dict) for v in values):
        raw = [decode_strings(v) for v in values]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=raw))
    raise bad(f'feature value {value!r} mixes types; use numbers, strings or {{"b64": ...}}')


def serialized_examples(examples: Any, context: Any) -> np.ndarray:
    import tensorflow as tf

    if not isinstance(examples, list) or not examples or not all(isinstance(e, dict) for e in examples):
        raise bad("Expecting 'examples' to be a non-empty list of objects")
    shared = context if isinstance(context, dict) else {}
    protos = [
        tf.train.Example(features=tf.train.Features(feature={k: _feature(v) for k, v in {**shared, **e}.items()}))
        for e in examples
    ]
    return np.asarray([p.SerializeToString() for p in protos], dtype=object)


def classify_results(outputs: Mapping[str, np.ndarray]) -> list[Any]:
    scores, classes = outputs.get("scores"), outputs.get("classes")
    rows = len(scores) if scores is not None else len(classes) if classes is not None else 0
    results = []
    for i in range(rows):
        row_scores = scores[i].tolist() if scores is not None else None
        row_classes = (
            [c.decode() if isinstance(c, bytes) else str(c) for c in classes[i]] if classes is not None else None
        )
        width = len(row_scores if row_scores is not None else row_classes or [])
        results.append(
            [
                [row_classes[k] if row_classes else str(k), finite(row_scores[k]) if row_scores else None]
                for k in range(width)
            ]
        )
    return results
