"""Commands on a real-time endpoint on AWS: ``endpoint-up``, ``invoke`` and ``endpoint-down``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from byoc_pipelines import descriptor
from byoc_pipelines.asl import blue_green
from byoc_pipelines.asl import definitions as defs
from byoc_pipelines.aws import ecr, endpoint, executions
from byoc_pipelines.cli.context import Context
from byoc_pipelines.config import PipelineConfig
from byoc_pipelines.errors import ConfigurationError

JSON = "application/json"


def endpoint_image(containers: Path | None = None) -> descriptor.Descriptor:
    """The image whose workflow ends in an endpoint (its descriptor's outcome), when exactly one does."""
    found = [d for d in descriptor.discover(containers or descriptor.containers_dir()) if d.outcome == "endpoint"]
    if len(found) != 1:
        names = ", ".join(d.name for d in found) or "none"
        raise ConfigurationError(f"give --name: the images whose workflow ends in an endpoint are {names}")
    return found[0]


def default_name(config: PipelineConfig) -> str:
    """The endpoint the endpoint image's workflow creates and updates (``<prefix>-keras-text-endpoint``), so
    ``invoke`` and ``endpoint-down`` reach it and ``endpoint-up`` makes one that workflow then updates."""
    return blue_green.endpoint_name(config, defs.definition_name(endpoint_image()))


def _name(args: argparse.Namespace, ctx: Context) -> str:
    return str(args.name or default_name(ctx.config))


def _spec(args: argparse.Namespace, ctx: Context) -> endpoint.EndpointSpec:
    model_data = args.model_data
    if args.execution_arn:
        output = executions.outcome(ctx.clients("stepfunctions").describe_execution(executionArn=args.execution_arn))
        model_data = output["training"]["ModelArtifacts"]
    if not model_data:
        raise ConfigurationError("give --model-data s3://.../model.tar.gz or --execution-arn of a training execution")
    config = ctx.with_account()
    return endpoint.EndpointSpec(
        _name(args, ctx),
        ecr.pin(ctx.clients("ecr"), args.image),
        model_data,
        config.serving_role_arn,
        args.instance_type or config.endpoint_instance_type,
    )


def cmd_endpoint_up(args: argparse.Namespace, ctx: Context) -> int:
    spec = _spec(args, ctx)
    described = endpoint.endpoint_up(ctx.clients("sagemaker"), spec, endpoint.Waiting(args.delay, args.attempts))
    ctx.out.write(f"{described['EndpointName']} {described['EndpointStatus']}\n")
    return 0


def cmd_invoke(args: argparse.Namespace, ctx: Context) -> int:
    if args.body or args.query:
        payload, content_type, accept = (json.loads(args.body) if args.body else {"q": args.query}), JSON, JSON
    else:  # the endpoint image's first sample request (image.toml)
        sample = endpoint_image().requests[0]
        payload, content_type, accept = sample.body, sample.content_type, sample.accept or JSON
    answer = endpoint.invoke(ctx.clients("sagemaker-runtime"), _name(args, ctx), payload, content_type, accept)
    shown = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else json.dumps(answer, ensure_ascii=False)
    ctx.out.write(shown.rstrip("\n") + "\n")
    return 0


def cmd_endpoint_down(args: argparse.Namespace, ctx: Context) -> int:
    name = _name(args, ctx)
    endpoint.endpoint_down(ctx.clients("sagemaker"), name, waiting=endpoint.Waiting(args.delay, args.attempts))
    ctx.out.write(f"deleted {name}\n")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    commands = (
        ("endpoint-up", "model, config, endpoint; wait InService", cmd_endpoint_up),
        ("invoke", "query the endpoint", cmd_invoke),
        ("endpoint-down", "delete endpoint, config, model", cmd_endpoint_down),
    )
    for command, text, handler in commands:
        parser = sub.add_parser(command, parents=[common], help=text)
        parser.set_defaults(handler=handler)
        parser.add_argument("--name", help="endpoint name (default: the endpoint workflow's, <prefix>-<state machine>)")
        if command == "invoke":
            parser.add_argument("--query", help='sends {"q": QUERY} (default: the image\'s first sample request)')
            parser.add_argument("--body", help='raw JSON body instead of {"q": QUERY}')
            continue
        parser.add_argument("--delay", type=int, default=30, help="seconds between status checks")
        parser.add_argument("--attempts", type=int, default=60)
        if command == "endpoint-up":
            parser.add_argument("--image", required=True, help="by digest (@sha256:...) or revision tag")
            parser.add_argument("--model-data", help="s3:// URI of model.tar.gz")
            parser.add_argument("--execution-arn", help="take the model from this execution's training result")
            parser.add_argument("--instance-type")
