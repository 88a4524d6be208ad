"""Several hosts train the built-in model together: MultiWorkerMirroredStrategy from the TF_CONFIG the image's
launcher gives every host (the first host is the chief); one host uses TensorFlow's default strategy.

``python -m keras_text.distributed`` is how a multi-host job starts the built-in trainer on each host.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

TF_CONFIG_VAR = "TF_CONFIG"


def _cluster() -> dict[str, Any]:
    try:
        config = json.loads(os.environ.get(TF_CONFIG_VAR) or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def workers() -> int:
    return len(_cluster().get("cluster", {}).get("worker", [])) or 1


def is_chief() -> bool:
    """The first worker evaluates for the record, writes checkpoints and the model."""
    return int(_cluster().get("task", {}).get("index", 0)) == 0


def strategy() -> Any:
    """Created before any other TensorFlow work, as MultiWorkerMirroredStrategy requires."""
    from keras_text.backend import tf

    if workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def main() -> None:
    from keras_text.train import train
    from sm_contract.training import run_training

    sys.exit(run_training(train))


if __name__ == "__main__":
    main()
