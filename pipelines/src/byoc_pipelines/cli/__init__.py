"""``python -m byoc_pipelines.cli``: the one command line of the pipelines package.

Commands: ``render`` (JSON + PNG/SVG in pipelines/definitions), ``validate`` (statelint, asl-validator, graph,
botocore request shapes), ``deploy`` (role, Lambda, state machines; idempotent), ``run`` (start and follow an
execution), ``status``, ``local`` (the same definition on moto with real containers, mocks and faults included),
``demo``, ``demo-faults``, ``test-state`` (TestState offline), ``push`` (an image to ECR), ``endpoint-up``,
``invoke``, ``endpoint-down``, ``conformance`` (an image against SageMaker's container contract). Defaults come from
:class:`PipelineConfig` and
``BYOC_*`` variables; AWS credentials from the usual boto3 chain. Exit status: 0 success, 1 failure, 2 nothing
attempted (no credentials, no region, a bad argument); every failure is one ``error:`` line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

import botocore.exceptions
import docker.errors

from byoc_pipelines import logs
from byoc_pipelines.aws import clients as aws_clients
from byoc_pipelines.cli import conformance, endpoints, images, local, teststate, workflows
from byoc_pipelines.cli.context import Context
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import PipelineError, one_line

DESCRIPTION = "Render, validate, deploy and run the workflows, run them locally, push images, manage an endpoint."
GLOBAL_OPTIONS = (
    ("--region", "AWS region (default: BYOC_REGION, then the boto3 chain for AWS calls, us-east-1 for names)"),
    ("--prefix", "name prefix of jobs, models, endpoints, role, function, state machines"),
    ("--bucket", "the project's S3 bucket"),
    ("--profile", "AWS profile"),
    ("--endpoint-url", "send AWS calls to another endpoint (an emulator)"),
    ("--log-level", "logging level (default: INFO)"),
)


def _options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The global options; sub-commands take them too (after their name), without overriding given ones."""
    for flag, text in GLOBAL_OPTIONS:
        default = argparse.SUPPRESS if suppress else ("INFO" if flag == "--log-level" else None)
        parser.add_argument(flag, default=default, help=text)
    verbose_default = argparse.SUPPRESS if suppress else False
    parser.add_argument(
        "--verbose", action="store_true", default=verbose_default, help="container, SDK and library output too"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m byoc_pipelines.cli", description=DESCRIPTION)
    _options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (workflows, local, images, endpoints, teststate, conformance):
        module.register(sub, common)
    parser.set_defaults(long_run=False)
    return parser


def _config(args: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig.from_env(prefix=args.prefix, region=args.region, bucket=args.bucket)


def _failure(exc: BaseException) -> tuple[int, str] | None:
    """Exit status and message of an error explained in one line; None for a bug (traceback wanted)."""
    if isinstance(exc, PipelineError):
        return exc.exit_code, str(exc)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return 2, aws_clients.NO_CREDENTIALS
    if isinstance(exc, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
        return 1, one_line(exc)
    if isinstance(exc, docker.errors.DockerException):
        return 1, f"Docker: {one_line(exc)}"
    return None


def main(
    argv: Sequence[str] | None = None,
    clients: aws_clients.ClientFactory | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command; ``clients`` and the streams are for tests (then logging is left as it is)."""
    args = _parser().parse_args(argv)
    err = stderr or sys.stderr
    with logs.console(stdout) as out:
        if stdout is None:  # configured by the entry point only, never by library code or tests
            logs.configure(args.log_level, verbose=args.verbose, console=out if args.long_run else None)
        factory = clients or aws_clients.factory(args.region, args.profile, args.endpoint_url)
        context = Context(_config(args), factory, out, err, verbose=args.verbose)
        try:
            code: int = args.handler(args, context)
        except Exception as exc:
            failure = _failure(exc)
            if failure is None:
                raise
            err.write(f"error: {failure[1]}\n")
            return failure[0]
    return code
