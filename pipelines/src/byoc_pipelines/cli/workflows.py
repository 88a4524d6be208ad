"""Commands on the state machines: ``render``, ``validate``, ``deploy``, ``run`` and ``status``."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.asl import inputs
from byoc_pipelines.aws import deploy, ecr, executions
from byoc_pipelines.cli.context import Context
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import ConfigurationError, PipelineError
from byoc_pipelines.sagemaker.script_mode import Script, sourcedir_tarball

DEFINITIONS_DIR = Path("pipelines/definitions")
NAMES = list(defs.BUILDERS)


def cmd_render(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines.asl import graph

    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for name in args.definitions or defs.BUILDERS:
        definition = defs.build(name, ctx.config)
        target = folder / f"{name}.json"
        target.write_text(json.dumps(definition, indent=2, ensure_ascii=False) + "\n")
        written = [target]
        if not args.no_pictures:
            written += graph.render(graph.to_dot(ctx.config.state_machine_name(name), definition), folder / name)
        ctx.out.write("".join(f"wrote {path}\n" for path in written))
    return 0


def cmd_validate(args: argparse.Namespace, ctx: Context) -> int:
    from byoc_pipelines import validation

    if args.file and len(args.definitions) != 1:
        raise ConfigurationError("--file needs exactly one definition name (its sample input is used)")
    check_config = replace(ctx.config, endpoint_wait_seconds=0)  # the sample run must not sleep
    payloads = {ctx.config.create_model_function: "CreateModel"}
    failed = False
    if not args.definitions and not args.file and "iam" in args.validators:
        failed |= _lint_policies(ctx)
    asl_validators = tuple(v for v in args.validators if v != "iam")
    for name in args.definitions or defs.BUILDERS:
        definition = json.loads(Path(args.file).read_text()) if args.file else defs.build(name, ctx.config)
        sample = inputs.sample_input(name, check_config)
        for validator, problems in validation.validate(definition, sample, payloads, asl_validators).items():
            ctx.out.write(f"{name}: {validator}: {'ok' if not problems else 'FAILED'}\n")
            ctx.out.write("".join(f"  - {problem}\n" for problem in problems))
            failed |= bool(problems)
    return 1 if failed else 0


def cmd_deploy(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.with_account()
    names = args.definitions or NAMES
    services = {s: ctx.clients(s) for s in ("iam", "stepfunctions", "lambda")}
    arns = deploy.deploy(services, config, {name: defs.build(name, config) for name in names})
    ctx.out.write(json.dumps(arns, indent=2) + "\n")
    return 0


def _lint_policies(ctx: Context) -> bool:
    """parliament's findings on every IAM policy deploy writes; True when there are any."""
    from byoc_pipelines.aws import policies, policy_lint

    documents = policies.documents(ctx.config, {name: defs.build(name, ctx.config) for name in NAMES})
    findings = policy_lint.lint(documents)
    ctx.out.write(f"policies: parliament: {'ok' if not findings else 'FAILED'}\n")
    ctx.out.write("".join(f"  - {finding}\n" for finding in findings))
    return bool(findings)


def hyperparameters(args: argparse.Namespace) -> dict[str, str]:
    pairs = [pair.split("=", 1) for pair in args.hyperparameter]
    if any(len(pair) != 2 for pair in pairs):
        raise ConfigurationError("--hyperparameter takes KEY=VALUE")
    return dict(pairs)


def script_of(args: argparse.Namespace, config: PipelineConfig, run: str) -> Script | None:
    """Script mode when ``--source-dir`` is given: its program, and where its tarball goes for this run."""
    if not args.source_dir:
        if args.program:
            raise ConfigurationError("--program needs --source-dir (the folder holding it)")
        return None
    program = args.program or ""
    if not (Path(args.source_dir) / program).is_file():
        raise ConfigurationError(f"--program {program!r} is not a file in --source-dir {args.source_dir}")
    return Script(program, inputs.code_uri(config, args.definition, run))


def _image(args: argparse.Namespace, ctx: Context, config: PipelineConfig) -> str:
    """``--image`` by digest (a revision tag looked up in ECR), else the git revision's image in ECR, by digest."""
    if args.image:
        return ecr.pin(ctx.clients("ecr"), args.image)
    revision = args.revision or ecr.git_revision()
    return ecr.resolve_revision(ctx.clients("ecr"), config.repository(defs.IMAGE_OF[args.definition]), revision)


def run_input(args: argparse.Namespace, ctx: Context, config: PipelineConfig, name: str) -> dict[str, Any]:
    """The execution input: a JSON file, or the config's layout with flags (outputs and code per run).

    In script mode the code folder is uploaded as ``sourcedir.tar.gz`` under the run's ``code/`` prefix first.
    """
    if args.input:
        given: dict[str, Any] = json.loads(Path(args.input).read_text())
        given["image"] = ecr.pin(ctx.clients("ecr"), str(given.get("image", "")))
        return given
    script = script_of(args, config, name)
    image = _image(args, ctx, config)
    if script is not None:
        bucket, _, key = script.code_uri.removeprefix("s3://").partition("/")
        ctx.clients("s3").put_object(Bucket=bucket, Key=key, Body=sourcedir_tarball(Path(args.source_dir)))
        ctx.out.write(f"uploaded {args.source_dir} to {script.code_uri}\n")
    return inputs.execution_input(
        args.definition,
        config,
        image,
        run=name,
        script=script,
        instance_count=args.instance_count,
        hyperparameters=hyperparameters(args),
        spot=args.spot,
    )


def _state_machine(ctx: Context, sfn: Any, definition: str, hint: str = "") -> str:
    arn = deploy.find_state_machine(sfn, ctx.config.state_machine_name(definition))
    if arn is None:
        raise PipelineError(f"state machine {ctx.config.state_machine_name(definition)} not found{hint}")
    return arn


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    config = ctx.with_account()
    sfn = ctx.clients("stepfunctions")
    arn = _state_machine(ctx, sfn, args.definition, ": deploy first")
    name = args.name or time.strftime(f"{args.definition[:20]}-%Y%m%d-%H%M%S")
    execution_arn = executions.start(sfn, arn, name, run_input(args, ctx, config, name))
    ctx.out.write(f"started {execution_arn}\n")
    if args.no_follow:
        return 0

    def emit(line: str) -> None:
        ctx.out.write(line + "\n")

    described = executions.follow(sfn, execution_arn, emit, poll_s=args.poll)
    output = executions.outcome(described)
    ctx.out.write(f"{described['status']}: {json.dumps(output, ensure_ascii=False)}\n")
    return 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    sfn = ctx.clients("stepfunctions")
    if args.execution_arn:
        described = sfn.describe_execution(executionArn=args.execution_arn)
        history = executions.history(sfn, args.execution_arn)
        ctx.out.write("".join(executions.format_event(event) + "\n" for event in history))
        ctx.out.write(f"{described['status']}\n")
        return 0 if described["status"] in ("SUCCEEDED", "RUNNING") else 1
    arn = _state_machine(ctx, sfn, args.definition)
    for item in sfn.list_executions(stateMachineArn=arn, maxResults=args.limit)["executions"]:
        ctx.out.write(f"{item['status']:<10} {item['startDate']} {item['name']}\n")
    return 0


def add_definition_options(parser: argparse.ArgumentParser) -> None:
    """Options ``run`` and ``local`` share: definition, image, hyperparameters, name, hosts, script mode."""
    parser.add_argument("definition", choices=NAMES)
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", help="execution name (default: definition and time)")
    parser.add_argument("--instance-count", type=int, default=1, help="training hosts (default: 1)")
    parser.add_argument(
        "--source-dir", help="script mode: the folder packed as sourcedir.tar.gz (e.g. examples/chainer-script)"
    )
    parser.add_argument("--program", help="script mode: the script in --source-dir to train with and serve")
    parser.add_argument(
        "--spot", action="store_true", help="managed spot training (MaxWaitTimeInSeconds; resumes from checkpoints)"
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    all_of = f"default: all of {NAMES}"
    render = sub.add_parser("render", parents=[common], help="write definitions as JSON, PNG and SVG")
    render.add_argument("definitions", nargs="*", metavar="DEFINITION", help=all_of)
    render.add_argument("--out", default=str(DEFINITIONS_DIR))
    render.add_argument("--no-pictures", action="store_true", help="JSON only (no Graphviz needed)")
    render.set_defaults(handler=cmd_render)

    validate = sub.add_parser("validate", parents=[common], help="statelint, asl-validator, graph, botocore checks")
    validate.add_argument("definitions", nargs="*", metavar="DEFINITION", help=all_of)
    validate.add_argument("--file", help="validate this JSON file as the (single) named definition")
    validate.add_argument(
        "--validators",
        nargs="+",
        default=["graph", "statelint", "asl-validator", "botocore", "iam"],
        help="iam: parliament on the deployed IAM policies (when no definition is named)",
    )
    validate.set_defaults(handler=cmd_validate)

    dep = sub.add_parser("deploy", parents=[common], help="create or update the role, the function, state machines")
    dep.add_argument("definitions", nargs="*", metavar="DEFINITION", help=all_of)
    dep.set_defaults(handler=cmd_deploy)

    run = sub.add_parser("run", parents=[common], help="start an execution on AWS and follow it")
    add_definition_options(run)
    run.add_argument("--image", help="image by digest (@sha256:...) or revision tag (default: --revision's, by digest)")
    run.add_argument("--revision", help="image tag to look up in ECR (default: the git revision, as push tags it)")
    run.add_argument("--input", help="execution input as a JSON file (instead of defaults and flags)")
    run.add_argument("--no-follow", action="store_true")
    run.add_argument("--poll", type=float, default=10.0, help="seconds between history polls")
    run.set_defaults(handler=cmd_run)

    status = sub.add_parser("status", parents=[common], help="an execution's history, or recent executions")
    status.add_argument("--execution-arn")
    status.add_argument("--definition", choices=NAMES, default=NAMES[0])
    status.add_argument("--limit", type=int, default=10)
    status.set_defaults(handler=cmd_status)
