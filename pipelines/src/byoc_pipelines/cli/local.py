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
from byoc_pipelines.errors import ConfigurationError, ExecutionFailedError, InvocationError, one_line
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


def _data(args: argparse.Namespace) -> Path:
    """``--data``, or where the image's descriptor finds its training channel (relative to the repository)."""
    from byoc_pipelines.asl import definitions as defs
    from byoc_pipelines.descriptor import containers_dir

    if args.data:
        return Path(args.data)
    image = defs.find(args.definition).image
    source = image.channel("train").source
    if source is None:
        raise ConfigurationError(f"{image.name}'s descriptor names no folder for its train channel: give --data")
    return containers_dir().parent / source.parent


def _scenario(args: argparse.Namespace, ctx: Context) -> Any:
    """Mocks, faults, spot and retry waits of a run, checked against the definition (a bad one: exit 2)."""
    from byoc_pipelines.asl import definitions as defs
    from byoc_pipelines.local.scenario import scenario
    from byoc_pipelines.sagemaker.shapes import FieldValidationMode

    return scenario(
        defs.build(args.definition, ctx.config),
        [ctx.config.state_machine_name(args.definition), args.definition],
        mock_config=args.mock_config,
        fault_config=args.fault_config,
        test_case=args.test_case,
        fault_flags=args.fault,
        mode=FieldValidationMode(args.mock_validation),
        spot=args.spot,
        retry_wait_scale=args.retry_wait_scale,
    )


def cmd_local(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.local import artifacts, pipeline

    workflows.script_of(args, ctx.config, "")  # the same checks of --source-dir and --program as `run`
    root = Path(args.root) if args.root else LOCAL_RUNS / args.definition
    if not args.root:
        shutil.rmtree(root, ignore_errors=True)  # the default folder holds the last run only
    spec = pipeline.LocalRun(
        args.definition,
        args.image,
        _data(args),
        root,
        args.train_size,
        workflows.hyperparameters(args),
        args.name or "",
        ctx.config,
        instance_count=args.instance_count,
        source_dir=Path(args.source_dir) if args.source_dir else None,
        program=args.program or "",
        scenario=_scenario(args, ctx),
    )
    progress, logs = Progress(ctx.out), RunLogs(root / "logs", verbose=ctx.verbose)
    with _pointing_at_logs(logs, progress), logs.to(args.definition):
        outcome = pipeline.run(spec, progress)
    if outcome.status != "SUCCEEDED":
        _report_local(progress, logs, args.definition, [], f"done: {outcome.status} in {outcome.seconds} s")
        detail = f": {outcome.error} {one_line(outcome.cause)[:300]}".rstrip() if outcome.error else ""
        raise ExecutionFailedError(f"execution {outcome.status}{detail}")
    if outcome.answer_error:
        _report_local(progress, logs, args.definition, [], f"done: {outcome.status} in {outcome.seconds} s")
        raise InvocationError(f"the endpoint answered {outcome.answer_error[:300]}")
    files = artifacts.training_artifacts(outcome.model_tarball(), root / "pictures")
    files.extend(outcome.transform_outputs)
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


def cmd_demo_faults(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.local import demo_faults

    given = {"image": args.image, "mnist": args.mnist, "run_dir": args.run_dir}
    options = demo_faults.FaultsDemoOptions(**{key: value for key, value in given.items() if value is not None})
    progress, logs = Progress(ctx.out), RunLogs(options.run_dir / "logs", verbose=ctx.verbose)
    with _pointing_at_logs(logs, progress):
        demo_faults.run(options, progress, logs)
    return 0


def _scenario_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mock-config", help="Step Functions Local's mock file (default: $SFN_MOCK_CONFIG); needs --test-case"
    )
    parser.add_argument("--fault-config", help="faults in the mock file's shape (Faults instead of MockedResponses)")
    parser.add_argument("--test-case", help="the test case of the mock and fault files")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="STATE=KIND[:N]",
        help="a real fault on the first N attempts of a state: FailTraining, StopTrainingJob, SpotInterruption, "
        "AbortExecution, Throttle, FailingModel (e.g. 'Create Model=Throttle:2')",
    )
    parser.add_argument(
        "--mock-validation",
        choices=("STRICT", "PRESENT", "NONE"),
        default="STRICT",
        help="how mocked Returns are checked against the API's output shape (TestState's field validation mode)",
    )
    parser.add_argument(
        "--retry-wait-scale", type=float, default=1.0, help="multiply every Retry's wait (0.01: 5 s become 50 ms)"
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    local = sub.add_parser("local", parents=[common], help="run a definition here: moto's engine + real containers")
    workflows.add_definition_options(local)
    local.add_argument("--image", required=True, help="the local image, e.g. byoc/chainer-mnist:latest")
    local.add_argument(
        "--data", help="a folder per channel, e.g. data/mnist (default: the folder of the image's train channel)"
    )
    local.add_argument("--root", help=f"run folder: stand-in bucket, job folders, logs (default: {LOCAL_RUNS}/DEF)")
    local.add_argument("--train-size", type=int, default=2000, help="training examples staged")
    _scenario_options(local)
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

    faults = sub.add_parser(
        "demo-faults",
        parents=[common],
        help="the Chainer workflow's failure path, then a spot interruption it survives",
    )
    faults.add_argument("--image", help="default: byoc/chainer-mnist:latest")
    faults.add_argument("--mnist", type=Path, help="the prepared MNIST channels (default: data/mnist)")
    faults.add_argument("--run-dir", type=Path, help="stand-in buckets and logs (default: build/demo-faults)")
    faults.set_defaults(handler=cmd_demo_faults, long_run=True)
