"""One run of the suite against one image: training jobs first, then every serving container, in parallel.

Jobs that do not disturb each other run at the same time (the smoke job, the failing job, the job to be stopped,
the two hosts); the servers start once the smoke job has left a model (or from ``--model``), one shared server
for every check that needs no container of its own, and one each for S7, batch, multi-model and serverless.
A check whose prerequisite failed is skipped, naming it.
"""

from __future__ import annotations

import logging
import tarfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from byoc_pipelines.conformance import batch, multimodel, ports, serverless, serving, training
from byoc_pipelines.conformance.catalog import CHECKS
from byoc_pipelines.conformance.context import Context, Options, Startups
from byoc_pipelines.conformance.inputs import Inputs
from byoc_pipelines.conformance.results import Recorder, Report, Result
from byoc_pipelines.conformance.sandbox import Sandbox

logger = logging.getLogger(__name__)

Task = Callable[[Context, Path], None]
SERVING_TASKS: tuple[tuple[str, Task, tuple[str, ...]], ...] = (
    ("serving", serving.serve, serving.IDS),
    ("serving", ports.bind_to_port, ("S7.bind-port", "S7.safe-ports")),
    ("batch", batch.run, batch.IDS),
    ("multi-model", multimodel.run, multimodel.IDS),
    ("serverless", serverless.run, serverless.IDS),
)
TRAINING_IDS = tuple(c.id for c in CHECKS if c.family == "training")


def slug(image: str) -> str:
    """``byoc/chainer-mnist:latest`` -> ``byoc_chainer-mnist_latest`` (a folder name)."""
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in image)


def _model_folder(given: Path, folder: Path) -> Path:
    """A model folder, or a ``model.tar.gz`` unpacked as SageMaker unpacks it before the container starts."""
    if given.is_dir():
        return given.resolve()
    target = folder / "model-given"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(given) as archive:
        archive.extractall(target, filter="data")
    return target.resolve()


class Run:
    def __init__(
        self, image: str, inputs: Inputs, options: Options, out: Path, progress: Callable[[Result], None] | None = None
    ) -> None:
        self.image, self.inputs, self.options = image, inputs, options
        self.out = out / slug(image)
        self.rec = Recorder(on_result=progress)
        self.errors: list[str] = []

    def _guard(self, ids: tuple[str, ...], task: Callable[..., Any], *args: Any) -> Any:
        """Run a task; an error of the suite itself skips the task's remaining checks, naming the error."""
        try:
            return task(*args)
        except Exception as exc:
            logger.debug("suite error in %s", getattr(task, "__name__", task), exc_info=True)
            self.errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            self.rec.skip_rest(ids, f"suite error: {type(exc).__name__}: {exc}")
            return None

    def execute(self) -> Report:
        started_wall, started = time.time(), time.monotonic()
        with Sandbox(self.image, self.out / "work") as sandbox:
            attrs = sandbox.inspect_image()
            config = attrs.get("Config") or {}
            ctx = Context(sandbox, self.inputs, self.rec, self.options, labels=dict(config.get("Labels") or {}))
            with ThreadPoolExecutor(max_workers=10) as pool:
                model = self._training(ctx, config, pool)
                self._serving(ctx, model, pool)
        results = self.rec.ordered()
        descriptor = str(self.inputs.descriptor.path) if self.inputs.descriptor else None
        return Report(
            self.image,
            str(attrs.get("Id", "")),
            descriptor,
            started_wall,
            time.monotonic() - started,
            results,
            self.options.as_dict(),
        )

    def _training(self, ctx: Context, config: dict[str, Any], pool: ThreadPoolExecutor) -> Path | None:
        """Start the training jobs; returns the model to serve (``--model`` or the smoke job's)."""
        if "training" not in self.options.families:
            self.rec.skip_rest(TRAINING_IDS, "training not selected (--families)")
            return _model_folder(self.options.model, self.out) if self.options.model else None
        training.check_image_config(ctx, config)
        smoke: Future[Path | None] = pool.submit(self._guard, ("T2.success", "T4"), training.success, ctx)
        pool.submit(self._guard, ("T2.failure", "T3"), training.failure, ctx)
        pool.submit(self._guard, ("T1.pid1", "T5"), training.stop, ctx)
        trained = smoke.result()
        return _model_folder(self.options.model, self.out) if self.options.model is not None else trained

    def _serving(self, ctx: Context, model: Path | None, pool: ThreadPoolExecutor) -> None:
        """One task per server; two training hosts once every server is up (both are CPU work on a small machine,
        and the servers' start-up is measured against a limit)."""
        tasks = [(task, ids) for family, task, ids in SERVING_TASKS if family in self.options.families]
        for family, _, ids in SERVING_TASKS:
            if family not in self.options.families:
                hint = " (opt-in: --serverless MB)" if family == "serverless" else " (--families)"
                self.rec.skip_rest(ids, f"{family} not selected{hint}")
            elif model is None:
                self.rec.skip_rest(ids, "no model to serve: the smoke job left none (T2.success, T4); give --model")
        ctx.startups = Startups(len(tasks) if model is not None else 0)
        if model is not None:
            for task, ids in tasks:
                pool.submit(self._serving_task, ids, task, ctx, model)
        if "training" in self.options.families:
            pool.submit(self._after_servers, ctx)

    def _serving_task(self, ids: tuple[str, ...], task: Task, ctx: Context, model: Path) -> None:
        ctx.startups.begin()
        try:
            self._guard(ids, task, ctx, model)
        finally:
            ctx.startups.done()

    def _after_servers(self, ctx: Context) -> None:
        ctx.startups.wait_all()
        self._guard(("T6",), training.two_hosts, ctx)
