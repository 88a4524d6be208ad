"""``push``: a locally built image to ECR as ``<git revision>`` and ``latest``; only its URI goes to stdout.

Progress goes to stderr so a script can capture the URI with ``$(...)``. Exit status: 0 pushed, 1 failure (AWS
API, Docker, push error), 2 nothing attempted (no credentials, no region, no git revision, a bad tag).
"""

from __future__ import annotations

import argparse
from typing import Any

import docker

from byoc_pipelines.aws import ecr
from byoc_pipelines.aws.docker_push import DOCKER_TIMEOUT_S
from byoc_pipelines.cli.context import Context


def default_repository(local_image: str) -> str:
    """``byoc/chainer-mnist:latest`` -> ``byoc/chainer-mnist`` (the image name without tag or digest)."""
    name = local_image.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def cmd_push(args: argparse.Namespace, ctx: Context) -> int:
    log = None if args.quiet else ctx.err
    revision = ecr.check_tag(args.tag_revision) if args.tag_revision else ecr.git_revision()
    ecr_client = ctx.clients("ecr")
    result = ecr.push(
        args.local_image,
        args.repository or default_repository(args.local_image),
        ecr_client=ecr_client,
        docker_client=docker.from_env(timeout=DOCKER_TIMEOUT_S),
        revision=revision,
        registry_url=args.registry_url,
        log=log,
    )
    if log is not None and result.digest:
        log.write(f"pushed {', '.join(result.uris)} ({result.digest})\n")
    ctx.out.write(result.uri + "\n")
    ctx.out.flush()
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    push = sub.add_parser("push", parents=[common], help="push a local image to ECR, print its revision URI")
    push.add_argument("local_image", metavar="LOCAL_IMAGE", help="e.g. byoc/chainer-mnist:latest")
    push.add_argument("--repository", help="ECR repository name (default: LOCAL_IMAGE without its tag)")
    push.add_argument("--tag-revision", metavar="REV", help="tag instead of the git short SHA (+ -dirty)")
    push.add_argument("--registry-url", metavar="HOST:PORT", help="push to this registry instead of ECR's")
    push.add_argument("--quiet", action="store_true", help="no progress on stderr")
    push.set_defaults(handler=cmd_push)
