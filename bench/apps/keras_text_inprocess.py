"""keras-text's model in process, the limit the single-query servers are measured against: no HTTP, no server.

Runs inside the image (``docker exec``, see bench/keras_text_tfs.py) with the thread settings ``serve`` gives
each worker (``sm_contract.server.configure_threads``, applied before NumPy or TensorFlow start). It loads the
model as the built-in contender does (``keras_text_builtin.TextHandler``) and, back to back for --seconds each,
times

* ``function``: the SavedModel's ``serving_default`` ``tf.function`` on the query's tokens (tokenized once);
* ``handler``: decode + predict + encode of one ``{"q": text}`` body, tokenizer included.

Prints one JSON line: p50 and p99 in ms and the calls made, per part.

    python3 keras_text_inprocess.py --model-dir /opt/ml/model --text 電波が悪い --seconds 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sm_contract.environment import ServingEnv
from sm_contract.server import configure_threads


def _timed(call: Callable[[], Any], seconds: float, warmup: float) -> dict[str, Any]:
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        call()
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while (start := time.perf_counter()) < end:
        call()
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    at = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)  # noqa: E731
    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "calls": len(latencies)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="/opt/ml/model")
    parser.add_argument("--text", default="電波が悪い")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args(argv)
    env = ServingEnv.from_environ({"SAGEMAKER_BASE_DIR": str(Path(args.model_dir).parent)})
    configure_threads(env)
    from keras_text_builtin import TextHandler  # after the thread settings: NumPy reads them when it starts

    handler = TextHandler.load(env)
    tokens = handler.pre.encode([args.text])
    body = json.dumps({"q": args.text}, ensure_ascii=False).encode()

    def whole() -> bytes:
        return handler.encode(handler.predict(handler.decode(body, "application/json", {})), "application/json")

    parts = {
        "function": _timed(lambda: handler.function(tokens), args.seconds, args.warmup),
        "handler": _timed(whole, args.seconds, args.warmup),
    }
    print(json.dumps({"answer": json.loads(whole()), **parts}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
