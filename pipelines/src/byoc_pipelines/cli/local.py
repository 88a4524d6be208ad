"""Long runs on this machine: ``local`` (one definition on moto with real containers) and ``demo``.

Their console shows progress lines, the execution's events, the results and a summary; container, SDK and
library output goes to log files in the run's folder under ``build/`` unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from byoc_pipelines.cli import workflows
from byoc_pipelines.cli.context import Context
from byoc_pipelines.logs import Progress, RunLogs, shown

LOCAL_RUNS = Path("build/pipeline-local")


@contextmanager
def _pointing_at_logs(logs: RunLogs, progress: Progress) -> Iterator[None]:
    """On a failure, say where the container and SDK output went before the error line."""
    try:
        yield
    except BaseException:
        if logs.files:
            progress.detail("container and SDK logs: " + ", ".join(shown(path) for path in logs.files))
        raise


def _report_local(progress: Progress, logs: RunLogs, definition: str, files: list[Path], line: str) -> None:
    from byoc_pipelines.local import artifacts

    progress.step(definition, line)
    progress.detail("artifacts:")
    for path in files:
        progress.detail(f"  {shown(path)}")
    picture = artifacts.workflow_picture(definition)
    if picture is not None:
        progress.detail(f"workflow picture: {shown(picture)}")
    if logs.files:
        progress.detail("container and SDK logs: " + ", ".join(shown(path) for path in logs.files))


def cmd_local(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.local import artifacts, pipeline

    workflows.script_of(args, ctx.config, "")  # the same checks of --source-dir and --program as `run`
    root = Path(args.root) if args.root else LOCAL_RUNS / args.definition
    if not args.root:
        shutil.rmtree(root, ignore_errors=True)  # the default folder holds the last run only
    spec = pipeline.LocalRun(
        args.definition,
        args.image,
        Path(args.data),
        root,
        args.train_size,
        workflows.hyperparameters(args),
        args.name or "",
        ctx.config,
        instance_count=args.instance_count,
        source_dir=Path(args.source_dir) if args.source_dir else None,
        program=args.program or "",
    )
    progress, logs = Progress(ctx.out), RunLogs(root / "logs", verbose=ctx.verbose)
    with _pointing_at_logs(logs, progress), logs.to(args.definition):
        outcome = pipeline.run(spec, progress)
    files = artifacts.training_artifacts(outcome.model_tarball(), root / "pictures")
    if outcome.accuracy is not None:
        files.append(outcome.s3.path(outcome.output["transform"]["S3OutputPath"].rstrip("/") + "/test.npy.out"))
    _report_local(progress, logs, args.definition, files, f"done: {outcome.status} in {outcome.seconds} s")
    return 0


DEMO_OPTIONS = ("chainer_image", "keras_image", "mnist", "knbc", "run_dir", "chainer_epochs", "keras_epochs")


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.local import demo

    given = {name: getattr(args, name) for name in DEMO_OPTIONS if getattr(args, name) is not None}
    options = demo.DemoOptions(**given)
    progress, logs = Progress(ctx.out), RunLogs(options.run_dir / "logs", verbose=ctx.verbose)
    with _pointing_at_logs(logs, progress):
        result = demo.run(options, progress, logs)
    demo.report(result, progress, logs)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    local = sub.add_parser("local", parents=[common], help="run a definition here: moto's engine + real containers")
    workflows.add_definition_options(local)
    local.add_argument("--image", required=True, help="the local image, e.g. byoc/chainer-mnist:latest")
    local.add_argument("--data", required=True, help="data/mnist (Chainer) or datasets/knbc (Keras)")
    local.add_argument("--root", help=f"run folder: stand-in bucket, job folders, logs (default: {LOCAL_RUNS}/DEF)")
    local.add_argument("--train-size", type=int, default=2000, help="training examples staged")
    local.set_defaults(handler=cmd_local, long_run=True)

    demo = sub.add_parser("demo", parents=[common], help="the Chainer workflow, then a Keras endpoint, locally")
    demo.add_argument("--chainer-image", help="default: byoc/chainer-mnist:latest")
    demo.add_argument("--keras-image", help="default: byoc/keras-text:latest")
    demo.add_argument("--mnist", type=Path, help="the prepared MNIST channels (make data; default: data/mnist)")
    demo.add_argument("--knbc", type=Path, help="the KNB corpus split (default: datasets/knbc)")
    demo.add_argument("--run-dir", type=Path, help="artifacts, pictures, logs and summary.json (default: build/demo)")
    demo.add_argument("--chainer-epochs", type=int, help="default: 3 (the tutorial runs 20)")
    demo.add_argument("--keras-epochs", type=int, help="default: 30, with early stopping")
    demo.set_defaults(handler=cmd_demo, long_run=True)
