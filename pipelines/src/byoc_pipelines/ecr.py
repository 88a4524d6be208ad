"""Push a locally built image to Amazon ECR under its git revision and ``latest``.

``python -m byoc_pipelines.ecr push byoc/chainer-mnist:latest --repository byoc/chainer-mnist``

1. the ECR repository is created when missing (scan on push on, mutable tags so ``latest`` can move);
2. Docker is logged in with a token from ``ecr.get_authorization_token``;
3. the local image is tagged ``<registry>/<repository>:<revision>`` and ``:latest`` and both are pushed,
   progress going to stderr;
4. the revision URI (``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<revision>``) is printed on
   stdout, and only that, so a pipeline can capture it with ``$(...)``.

Region and credentials come from the usual boto3 chain (``AWS_PROFILE``/``--profile``, environment, shared
files, instance or container roles); the account is the repository's ``registryId``, so no STS call is made.
``--endpoint-url`` points the ECR API elsewhere (an emulator) and ``--registry-url HOST:PORT`` sends the
image to another registry than the one the token is for (a local registry standing in for ECR in tests).

Exit status: 0 pushed, 1 failure (AWS API, Docker, push error), 2 nothing attempted (no credentials, no
region, no git revision, bad arguments). Every failure is a single ``error: ...`` line on stderr.

Every function takes its clients as arguments so tests can hand in moto-backed ECR clients and any Docker
client.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

LATEST = "latest"
# Docker's rule for a tag: word character first, then up to 127 of [A-Za-z0-9_.-].
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Seconds the Docker client waits for the next chunk of a response; compressing a large layer before its
# upload starts can take a while on a small machine.
DOCKER_TIMEOUT_S = 900


class PushError(Exception):
    """A failure explained in one line (exit status 1)."""


class ConfigurationError(PushError):
    """Nothing can be attempted: no credentials, no region, no revision (exit status 2)."""


@dataclass(frozen=True)
class RegistryAuth:
    """Docker credentials decoded from an ECR authorization token."""

    username: str
    password: str
    proxy_endpoint: str  # https://<account>.dkr.ecr.<region>.amazonaws.com

    @property
    def host(self) -> str:
        return registry_host(self.proxy_endpoint)


@dataclass(frozen=True)
class PushResult:
    uri: str  # the revision tag, what pipelines should deploy
    uris: tuple[str, ...]  # every pushed reference (revision first, then latest)
    digest: str | None  # manifest digest reported by the registry
    repository_created: bool


# ---- ECR ------------------------------------------------------------------------------------------------


def ensure_repository(ecr: Any, name: str, log: TextIO | None = None) -> tuple[dict[str, Any], bool]:
    """The repository ``name``, created with scan on push when missing; returns it and whether it was created.

    An existing repository is left as it is (its owners may have chosen other settings); a warning is logged
    when it does not scan on push.
    """
    try:
        created = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            imageTagMutability="MUTABLE",  # `latest` is re-pointed on every push
        )
        return created["repository"], True
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    repository: dict[str, Any] = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    if log is not None and not repository.get("imageScanningConfiguration", {}).get("scanOnPush", False):
        print(f"warning: ECR repository {name} exists without scan on push; leaving it unchanged", file=log)
    return repository, False


def decode_authorization(data: Mapping[str, Any]) -> RegistryAuth:
    """One ``authorizationData`` entry: base64 ``user:password`` (the user is ``AWS``) plus the endpoint."""
    try:
        decoded = base64.b64decode(data["authorizationToken"], validate=True).decode("utf-8")
    except (KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise PushError(f"ECR returned an unreadable authorization token ({exc.__class__.__name__})") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise PushError("ECR authorization token is not of the form 'user:password'")
    endpoint = data.get("proxyEndpoint")
    if not endpoint:
        raise PushError("ECR authorization data has no proxyEndpoint")
    return RegistryAuth(username=username, password=password, proxy_endpoint=str(endpoint))


def registry_auth(ecr: Any, registry_id: str | None = None) -> RegistryAuth:
    """Docker credentials for the registry of account ``registry_id`` (the caller's default registry if None)."""
    kwargs = {"registryIds": [registry_id]} if registry_id else {}
    entries = ecr.get_authorization_token(**kwargs).get("authorizationData") or []
    if not entries:
        raise PushError("ECR returned no authorization data")
    return decode_authorization(entries[0])


def registry_host(url: str) -> str:
    """``https://host:port/`` or ``host:port`` -> ``host:port``."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip(), flags=re.IGNORECASE)
    return host.split("/", 1)[0]


def image_uri(host: str, repository: str, tag: str) -> str:
    return f"{registry_host(host)}/{repository}:{tag}"


# ---- git ------------------------------------------------------------------------------------------------


def git_revision(cwd: Path | str | None = None) -> str:
    """Short SHA of HEAD, with ``-dirty`` when the work tree differs from it.

    Untracked (not ignored) files count as dirty: a build context picks them up, so an image built with
    them is not reproducible from the commit alone.
    """

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
        except FileNotFoundError:
            raise ConfigurationError("git is not installed; pass --tag-revision") from None
        except subprocess.CalledProcessError as exc:
            reason = (exc.stderr.strip().splitlines() or ["git failed"])[-1]
            raise ConfigurationError(f"cannot work out the git revision ({reason}); pass --tag-revision") from None
        return done.stdout.strip()

    sha = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain"))
    return f"{sha}-dirty" if dirty else sha


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise ConfigurationError(f"{tag!r} is not a valid Docker tag (letters, digits, '_', '.', '-'; max 128)")
    return tag


# ---- Docker ---------------------------------------------------------------------------------------------
# The Docker SDK rather than the `docker` CLI: the registry password travels to the daemon in the request
# header of this process only, whereas `docker login` would store it in ~/.docker/config.json (in plain text
# unless a credential helper is set up, and a configured ecr-login helper would take over instead); and the
# daemon's JSON progress messages carry push errors as structured `errorDetail`, instead of CLI text that
# would have to be parsed. The SDK is a pinned dependency of this venv anyway.


def docker_login(docker_client: Any, auth: RegistryAuth, registry: str) -> None:
    """Check the credentials against ``registry`` through the daemon; the SDK keeps them for this client."""
    import docker.errors

    try:
        docker_client.login(username=auth.username, password=auth.password, registry=registry, reauth=True)
    except docker.errors.APIError as exc:
        raise PushError(
            f"docker login to {registry_host(registry)} failed: {_one_line(exc.explanation or exc)}"
        ) from None


def push_reference(
    docker_client: Any, repository: str, tag: str, auth: RegistryAuth, log: TextIO | None = None
) -> str | None:
    """``docker push repository:tag`` with progress lines on ``log``; returns the manifest digest."""
    import docker.errors

    reference = f"{repository}:{tag}"
    credentials = {"username": auth.username, "password": auth.password}
    try:
        stream = docker_client.images.push(repository, tag=tag, stream=True, decode=True, auth_config=credentials)
        return _follow_push(stream, reference, log)
    except docker.errors.APIError as exc:
        raise PushError(f"push of {reference} failed: {_one_line(exc.explanation or exc)}") from None


def _follow_push(stream: Iterable[Mapping[str, Any]], reference: str, log: TextIO | None) -> str | None:
    """Print each layer's status when it changes (not every progress bar tick); raise on an error message."""
    digest = None
    last_status: dict[str, str] = {}
    for message in stream:
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            text = detail.get("message") or message.get("error") or "unknown error"
            raise PushError(f"push of {reference} failed: {_one_line(text)}")
        aux = message.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            digest = str(aux["Digest"])
        status = message.get("status")
        if not status or log is None:
            continue
        layer = message.get("id")
        if layer:
            if last_status.get(layer) == status:
                continue
            last_status[layer] = status
            print(f"{layer}: {status}", file=log, flush=True)
        else:
            print(status, file=log, flush=True)
    return digest


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# ---- the whole push ---------------------------------------------------------------------------------------


def push(
    local_image: str,
    repository: str,
    *,
    ecr_client: Any,
    docker_client: Any,
    revision: str,
    registry_url: str | None = None,
    log: TextIO | None = None,
) -> PushResult:
    """Create ``repository`` if needed, log in, tag ``local_image`` as ``revision`` and ``latest``, push both.

    ``registry_url`` (``host:port``) replaces the registry host of the ECR repository, e.g. a local registry
    standing in for ECR; the credentials are still the ECR token's.
    """
    import docker.errors

    check_tag(revision)
    try:
        image = docker_client.images.get(local_image)
    except docker.errors.ImageNotFound:
        raise PushError(f"local image {local_image} not found; build it first") from None

    repo, created = ensure_repository(ecr_client, repository, log)
    if log is not None:
        verb = "created" if created else "using existing"
        print(f"{verb} ECR repository {repo['repositoryName']} (account {repo['registryId']})", file=log)
    auth = registry_auth(ecr_client, repo["registryId"])

    if registry_url:
        host, login_to = registry_host(registry_url), registry_host(registry_url)
    else:
        host, login_to = registry_host(repo.get("repositoryUri") or auth.proxy_endpoint), auth.proxy_endpoint
    docker_login(docker_client, auth, login_to)

    target = f"{host}/{repository}"
    tags = [revision] if revision == LATEST else [revision, LATEST]
    digest = None
    for tag in tags:
        if not image.tag(target, tag=tag):
            raise PushError(f"could not tag {local_image} as {target}:{tag}")
    for tag in tags:
        digest = push_reference(docker_client, target, tag, auth, log) or digest
    uris = tuple(f"{target}:{tag}" for tag in tags)
    return PushResult(uri=uris[0], uris=uris, digest=digest, repository_created=created)


def ecr_client_from_environment(
    region: str | None = None, profile: str | None = None, endpoint_url: str | None = None
) -> Any:
    """An ECR client from the usual boto3 chain; ConfigurationError when there is no region or no credentials."""
    import boto3
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigurationError(str(exc)) from None
    if not session.region_name:
        raise ConfigurationError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, a profile region, or --region")
    if session.get_credentials() is None:
        raise botocore.exceptions.NoCredentialsError()
    return session.client("ecr", endpoint_url=endpoint_url)


# ---- command line ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m byoc_pipelines.ecr", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("push", help="push a local image to ECR, print its revision URI on stdout")
    cmd.add_argument("local_image", metavar="LOCAL_IMAGE", help="e.g. byoc/chainer-mnist:latest")
    cmd.add_argument("--repository", help="ECR repository name (default: LOCAL_IMAGE without its tag)")
    cmd.add_argument("--region", help="AWS region (default: the boto3 chain)")
    cmd.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or the default profile)")
    cmd.add_argument("--tag-revision", metavar="REV", help="tag instead of the git short SHA (+ -dirty)")
    cmd.add_argument("--endpoint-url", metavar="URL", help="ECR API endpoint, e.g. an emulator")
    cmd.add_argument("--registry-url", metavar="HOST:PORT", help="push to this registry instead of ECR's")
    cmd.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _default_repository(local_image: str) -> str:
    name = local_image.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    import botocore.exceptions
    import docker
    import docker.errors

    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    log = None if args.quiet else err
    try:
        revision = check_tag(args.tag_revision) if args.tag_revision else git_revision()
        ecr_client = ecr_client_from_environment(args.region, args.profile, args.endpoint_url)
        docker_client = docker.from_env(timeout=DOCKER_TIMEOUT_S)
        result = push(
            args.local_image,
            args.repository or _default_repository(args.local_image),
            ecr_client=ecr_client,
            docker_client=docker_client,
            revision=revision,
            registry_url=args.registry_url,
            log=log,
        )
    except botocore.exceptions.NoCredentialsError:
        print(
            "error: no AWS credentials found: set AWS_PROFILE (or --profile) or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an IAM role is available",
            file=err,
        )
        return 2
    except ConfigurationError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except PushError as exc:
        print(f"error: {exc}", file=err)
        return 1
    except botocore.exceptions.ClientError as exc:
        print(f"error: ECR: {_one_line(exc)}", file=err)
        return 1
    except (botocore.exceptions.BotoCoreError, docker.errors.DockerException) as exc:
        print(f"error: {_one_line(exc)}", file=err)
        return 1
    if log is not None and result.digest:
        print(f"pushed {', '.join(result.uris)} ({result.digest})", file=log)
    print(result.uri, file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
