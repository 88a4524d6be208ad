"""Helpers of the local endpoint tests: tiny chainer-mnist models, a load generator, the binomial interval."""

from __future__ import annotations

import math
import tarfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from botocore.exceptions import ClientError

# Run inside the image: an untrained 10-unit MLP per label whose last layer's bias makes it always answer that
# label, so an answer tells which model served it.
_MAKE_MODELS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from chainer import serializers
    from chainer_mnist import model as m
    for label in sys.argv[1:]:
        spec = m.ModelSpec(units=10)
        classifier = m.build(spec)
        classifier.predictor.l3.b.array[:] = -100.0
        classifier.predictor.l3.b.array[int(label)] = 100.0
        out = Path("/out") / f"label-{label}"
        out.mkdir()
        serializers.save_npz(str(out / "model.npz"), classifier)
        spec.save(out / "model.json")
    """
)
# A model that loads and answers /ping but whose every prediction fails: a 500 from the container.
FAILING_MODULE = textwrap.dedent(
    """
    def model_fn(model_dir):
        return "broken"

    def input_fn(body, content_type):
        return body

    def predict_fn(data, model):
        raise RuntimeError("this model is broken")
    """
)


def tarball(folder: Path, archive: Path) -> str:
    """``folder``'s files as ``archive`` (``model.tar.gz``, files at its root); returns its ``file://`` URI."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return f"file://{archive}"


def make_label_models(image: str, out: Path, labels: list[int]) -> dict[int, Path]:
    """One model folder per label (``model.npz`` + ``model.json``), made by the image's own code."""
    out.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    try:
        client.containers.run(
            image,
            ["-c", _MAKE_MODELS, *map(str, labels)],
            entrypoint="python",
            volumes={str(out): {"bind": "/out", "mode": "rw"}},
            remove=True,
        )
    finally:
        client.close()
    return {label: out / f"label-{label}" for label in labels}


def failing_model(out: Path) -> Path:
    """A model folder with ``code/inference.py`` whose ``predict_fn`` raises (serve it with SAGEMAKER_PROGRAM)."""
    (out / "code").mkdir(parents=True, exist_ok=True)
    (out / "code" / "inference.py").write_text(FAILING_MODULE)
    return out


def binomial_interval(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """The central ``level`` interval of Binomial(n, p): counts outside it have probability < 1 - level."""
    tail = (1 - level) / 2

    def pmf(k: int) -> float:
        log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        return math.exp(log + k * math.log(p) + (n - k) * math.log(1 - p))

    cumulative, low, high = 0.0, 0, n
    for k in range(n + 1):
        cumulative += pmf(k)
        if cumulative < tail:
            low = k + 1
        if cumulative <= 1 - tail:
            high = k + 1
    return low, min(high, n)


@dataclass
class Outcome:
    at: float
    variant: str = ""
    label: int = -1
    error: str = ""  # the error code, "" for an answer
    original_status: int = 0


@dataclass
class LoadGenerator:
    """``threads`` clients calling ``invoke`` in a loop until stopped; every outcome kept."""

    invoke: Callable[[], tuple[str, int]]  # -> (variant, label), raises ClientError
    threads: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                variant, label = self.invoke()
                outcome = Outcome(started, variant, label)
            except ClientError as exc:
                error: Any = exc.response.get("Error", {})
                outcome = Outcome(
                    started, error=str(error.get("Code")), original_status=exc.response.get("OriginalStatusCode", 0)
                )
            except Exception as exc:  # a broken connection is a failed request too
                outcome = Outcome(started, error=type(exc).__name__)
            self.outcomes.append(outcome)

    def __enter__(self) -> LoadGenerator:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=120)

    def failures(self, since: float = 0.0) -> list[Outcome]:
        return [o for o in self.outcomes if o.error and o.at >= since]

    def labels(self, since: float = 0.0, until: float = float("inf")) -> set[int]:
        return {o.label for o in self.outcomes if not o.error and since <= o.at < until}
