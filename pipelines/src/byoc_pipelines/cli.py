"""``python -m byoc_pipelines.cli``: render, validate, deploy, run and watch the workflows; manage an endpoint.

Commands: ``render`` (JSON + PNG/SVG in pipelines/definitions), ``validate`` (statelint, asl-validator, graph,
botocore request shapes), ``deploy`` (role, Lambda, state machines; idempotent), ``run`` (start and follow an
execution), ``status``, ``local`` (the same definition on moto with real containers), ``endpoint-up``,
``invoke``, ``endpoint-down``. Defaults come from :class:`PipelineConfig` and ``BYOC_*`` variables; AWS
credentials from the usual boto3 chain. Exit status: 0 success, 1 failure (one ``error:`` line on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from byoc_pipelines import definitions as defs
from byoc_pipelines import deploy, endpoint, executions
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import PipelineError

logger = logging.getLogger(__name__)

DEFINITIONS_DIR = Path("pipelines/definitions")
ClientFactory = Callable[[str], Any]


def boto3_clients(args: argparse.Namespace) -> ClientFactory:
    import boto3

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    return lambda service: session.client(service, endpoint_url=args.endpoint_url)


def _config(args: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig.from_env(prefix=args.prefix, region=args.region, bucket=args.bucket)


def _with_account(config: PipelineConfig, clients: ClientFactory) -> PipelineConfig:
    account = clients("sts").get_caller_identity()["Account"]
    return replace(config, account_id=account)


# -- commands ----------------------------------------------------------------------------------------------------
def cmd_render(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    from byoc_pipelines import graph

    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for name in args.definitions or defs.BUILDERS:
        definition = defs.build(name, config)
        target = folder / f"{name}.json"
        target.write_text(json.dumps(definition, indent=2, ensure_ascii=False) + "\n")
        written = [target]
        if not args.no_pictures:
            written += graph.render(graph.to_dot(config.state_machine_name(name), definition), folder / name)
        out.write("".join(f"wrote {path}\n" for path in written))
    return 0


def cmd_validate(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    from byoc_pipelines import validate

    check_config = replace(config, endpoint_wait_seconds=0)  # the sample run must not sleep
    payloads = {config.create_model_function: "CreateModel"}
    failed = False
    if args.file and len(args.definitions) != 1:
        raise PipelineError("--file needs exactly one definition name (its sample input is used)")
    for name in args.definitions or defs.BUILDERS:
        definition = json.loads(Path(args.file).read_text()) if args.file else defs.build(name, config)
        results = validate.validate(definition, defs.sample_input(name, check_config), payloads, tuple(args.validators))
        for validator, problems in results.items():
            out.write(f"{name}: {validator}: {'ok' if not problems else 'FAILED'}\n")
            out.write("".join(f"  - {problem}\n" for problem in problems))
            failed |= bool(problems)
    return 1 if failed else 0


def cmd_deploy(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    config = _with_account(config, clients)
    names = args.definitions or list(defs.BUILDERS)
    services = {s: clients(s) for s in ("iam", "stepfunctions", "lambda")}
    arns = deploy.deploy(services, config, {name: defs.build(name, config) for name in names})
    out.write(json.dumps(arns, indent=2) + "\n")
    return 0


def run_input(args: argparse.Namespace, config: PipelineConfig, name: str) -> dict[str, Any]:
    """The execution input: a JSON file, or the config's defaults with flags; outputs get a per-run folder."""
    if args.input:
        return json.loads(Path(args.input).read_text())  # type: ignore[no-any-return]
    execution_input = defs.sample_input(args.definition, config, image=args.image)
    execution_input["hyperparameters"].update(dict(pair.split("=", 1) for pair in args.hyperparameter))
    for key, uri in execution_input["outputs"].items():
        execution_input["outputs"][key] = f"{uri}{name}/"
    return execution_input


def cmd_run(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    config = _with_account(config, clients)
    sfn = clients("stepfunctions")
    arn = deploy.find_state_machine(sfn, config.state_machine_name(args.definition))
    if arn is None:
        raise PipelineError(f"state machine {config.state_machine_name(args.definition)} not found: deploy first")
    name = args.name or time.strftime(f"{args.definition[:20]}-%Y%m%d-%H%M%S")
    execution_arn = executions.start(sfn, arn, name, run_input(args, config, name))
    out.write(f"started {execution_arn}\n")
    if args.no_follow:
        return 0
    described = executions.follow(sfn, execution_arn, lambda line: out.write(line + "\n"), poll_s=args.poll)
    output = executions.outcome(described)
    out.write(f"{described['status']}: {json.dumps(output, ensure_ascii=False)}\n")
    return 0


def cmd_status(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    sfn = clients("stepfunctions")
    if args.execution_arn:
        described = sfn.describe_execution(executionArn=args.execution_arn)
        out.write("".join(executions.format_event(e) + "\n" for e in executions.history(sfn, args.execution_arn)))
        out.write(f"{described['status']}\n")
        return 0 if described["status"] in ("SUCCEEDED", "RUNNING") else 1
    arn = deploy.find_state_machine(sfn, config.state_machine_name(args.definition))
    if arn is None:
        raise PipelineError(f"state machine {config.state_machine_name(args.definition)} not found")
    for item in sfn.list_executions(stateMachineArn=arn, maxResults=args.limit)["executions"]:
        out.write(f"{item['status']:<10} {item['startDate']} {item['name']}\n")
    return 0


def cmd_local(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    import tempfile

    from byoc_pipelines import pipeline_local

    hyperparameters = dict(pair.split("=", 1) for pair in args.hyperparameter)
    with tempfile.TemporaryDirectory(prefix="pipeline-local-") as scratch:
        root = Path(args.root) if args.root else Path(scratch)
        spec = pipeline_local.LocalRun(
            args.definition,
            args.image,
            Path(args.data),
            root,
            args.train_size,
            hyperparameters,
            args.name or "",
            config,
        )
        summary = pipeline_local.run(spec, lambda line: out.write(line + "\n"))
    out.write(f"{summary['status']} in {summary['seconds']} s\n")
    return 0


def _endpoint_spec(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory) -> endpoint.EndpointSpec:
    model_data = args.model_data
    if args.execution_arn:
        output = executions.outcome(clients("stepfunctions").describe_execution(executionArn=args.execution_arn))
        model_data = output["training"]["ModelArtifacts"]
    if not model_data:
        raise PipelineError("give --model-data s3://.../model.tar.gz or --execution-arn of a training execution")
    config = _with_account(config, clients)
    image = args.image or config.image_uri("keras-text")
    return endpoint.EndpointSpec(
        args.name or f"{config.prefix}-keras-text",
        image,
        model_data,
        config.role_arn,
        args.instance_type or config.endpoint_instance_type,
    )


def cmd_endpoint_up(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    spec = _endpoint_spec(args, config, clients)
    described = endpoint.endpoint_up(clients("sagemaker"), spec, endpoint.Waiting(args.delay, args.attempts))
    out.write(f"{described['EndpointName']} {described['EndpointStatus']}\n")
    return 0


def cmd_invoke(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    payload = json.loads(args.body) if args.body else {"q": args.query}
    answer = endpoint.invoke(clients("sagemaker-runtime"), args.name or f"{config.prefix}-keras-text", payload)
    out.write(json.dumps(answer, ensure_ascii=False) + "\n")
    return 0


def cmd_endpoint_down(args: argparse.Namespace, config: PipelineConfig, clients: ClientFactory, out: TextIO) -> int:
    name = args.name or f"{config.prefix}-keras-text"
    endpoint.endpoint_down(clients("sagemaker"), name, waiting=endpoint.Waiting(args.delay, args.attempts))
    out.write(f"deleted {name}\n")
    return 0


# -- parser --------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m byoc_pipelines.cli", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--region", help="AWS region (default: BYOC_REGION or us-east-1)")
    parser.add_argument("--prefix", help="name prefix of jobs, models, endpoints, role, function, state machines")
    parser.add_argument("--bucket", help="the project's S3 bucket")
    parser.add_argument("--profile", help="AWS profile")
    parser.add_argument("--endpoint-url", help="send AWS calls to another endpoint (an emulator)")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    names = list(defs.BUILDERS)

    render = sub.add_parser("render", help="write definitions as JSON, PNG and SVG")
    render.add_argument("definitions", nargs="*", metavar="DEFINITION", help=f"default: all of {names}")
    render.add_argument("--out", default=str(DEFINITIONS_DIR))
    render.add_argument("--no-pictures", action="store_true", help="JSON only (no Graphviz needed)")

    validate = sub.add_parser("validate", help="statelint, asl-validator, graph and botocore checks")
    validate.add_argument("definitions", nargs="*", metavar="DEFINITION", help=f"default: all of {names}")
    validate.add_argument("--file", help="validate this JSON file as the (single) named definition")
    validate.add_argument("--validators", nargs="+", default=["graph", "statelint", "asl-validator", "botocore"])

    dep = sub.add_parser("deploy", help="create or update the role, the Lambda function and the state machines")
    dep.add_argument("definitions", nargs="*", metavar="DEFINITION", help=f"default: all of {names}")

    for command, text in (("run", "start an execution and follow it"), ("local", "run a definition locally")):
        p = sub.add_parser(command, help=text)
        p.add_argument("definition", choices=names)
        p.add_argument("--image", help="image URI (default: the project's ECR repository, tag latest)")
        p.add_argument("--hyperparameter", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--name", help="execution name (default: definition and time)")
        if command == "run":
            p.add_argument("--input", help="execution input as a JSON file (instead of defaults and flags)")
            p.add_argument("--no-follow", action="store_true")
            p.add_argument("--poll", type=float, default=10.0, help="seconds between history polls")
        else:
            p.add_argument("--data", required=True, help="data/mnist (Chainer) or datasets/knbc (Keras)")
            p.add_argument("--root", help="keep the stand-in bucket and job folders here (default: a temp dir)")
            p.add_argument("--train-size", type=int, default=2000, help="training examples staged")

    status = sub.add_parser("status", help="an execution's history, or a state machine's recent executions")
    status.add_argument("--execution-arn")
    status.add_argument("--definition", choices=names, default="chainer-mnist-batch")
    status.add_argument("--limit", type=int, default=10)

    for command, text in (
        ("endpoint-up", "model, config, endpoint; wait InService"),
        ("invoke", "query the endpoint"),
        ("endpoint-down", "delete endpoint, config, model"),
    ):
        p = sub.add_parser(command, help=text)
        p.add_argument("--name", help="endpoint name (default: <prefix>-keras-text)")
        if command == "invoke":
            p.add_argument("--query", default="電波が悪い")
            p.add_argument("--body", help='raw JSON body instead of {"q": QUERY}')
            continue
        p.add_argument("--delay", type=int, default=30, help="seconds between status checks")
        p.add_argument("--attempts", type=int, default=60)
        if command == "endpoint-up":
            p.add_argument("--image")
            p.add_argument("--model-data", help="s3:// URI of model.tar.gz")
            p.add_argument("--execution-arn", help="take the model from this execution's training result")
            p.add_argument("--instance-type")
    return parser


COMMANDS = {
    "render": cmd_render,
    "validate": cmd_validate,
    "deploy": cmd_deploy,
    "run": cmd_run,
    "status": cmd_status,
    "local": cmd_local,
    "endpoint-up": cmd_endpoint_up,
    "invoke": cmd_invoke,
    "endpoint-down": cmd_endpoint_down,
}


def main(
    argv: Sequence[str] | None = None,
    clients: ClientFactory | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    args = _parser().parse_args(argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if stdout is None:  # configured by the entry point only, never by library code or tests
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for noisy in ("botocore", "sagemaker", "urllib3"):  # the SDK logs every compose file it writes
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return COMMANDS[args.command](args, _config(args), clients or boto3_clients(args), out)
    except PipelineError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except Exception as exc:  # botocore and AWS errors: one line, no traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError | BotoCoreError):
            err.write(f"error: {exc}\n")
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
