"""Push a locally built image to Amazon ECR under its git revision and ``latest``.

``python -m byoc_pipelines.cli push byoc/chainer-mnist:latest --repository byoc/chainer-mnist``

1. the ECR repository is created when missing: scan on push on, and tags immutable except ``latest``, so a
   revision tag names one build for good;
2. Docker is logged in with a token from ``ecr.get_authorization_token``;
3. the local image is tagged ``<registry>/<repository>:<revision>`` and ``:latest`` and both are pushed,
   progress going to ``log``;
4. the revision URI (``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<revision>``) is returned.

The account is the repository's ``registryId``, so no STS call is made. The ECR token is sent only to the
registry it was issued for: ``registry_url`` (another registry, e.g. a local one standing in for ECR in tests)
gets the image without it. Pipelines and endpoints run images by digest only: a revision tag is looked up in ECR
and replaced by its digest before anything is deployed (:func:`pin`, :func:`resolve_revision`), so what runs is
what was resolved, even in a repository whose tags can move. Every function takes its clients as arguments so
tests can hand in moto-backed ECR clients and any Docker client.
"""

from __future__ import annotations

import base64
import binascii
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import docker.errors

from byoc_pipelines.aws.docker_push import RegistryAuth, docker_login, push_reference, registry_host
from byoc_pipelines.errors import ConfigurationError, PushError

LATEST = "latest"
# Docker's rule for a tag: word character first, then up to 127 of [A-Za-z0-9_.-].
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]: a private ECR registry (the partitions' DNS suffixes).
_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# ECR's "tag mutability with exclusions": every tag immutable but these (a wildcard filter each).
MOVING_TAGS = (LATEST,)


@dataclass(frozen=True)
class PushResult:
    uri: str  # the revision tag, what pipelines should deploy
    uris: tuple[str, ...]  # every pushed reference (revision first, then latest)
    digest: str | None  # manifest digest reported by the registry
    repository_created: bool


# ---- ECR ------------------------------------------------------------------------------------------------


def ensure_repository(ecr: Any, name: str, log: TextIO | None = None) -> tuple[dict[str, Any], bool]:
    """The repository ``name``, created when missing; returns it and whether it was created.

    New repositories scan on push and keep every tag but ``latest`` immutable (ECR's tag mutability exclusions,
    ECR User Guide "Preventing image tags from being overwritten"): a revision tag can never be re-pointed at
    another image. An existing repository is left as it is (its owners may have chosen other settings), with a
    warning when it does not scan on push or lets revision tags move (deploys still resolve them to digests).
    """
    try:
        created = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": tag} for tag in MOVING_TAGS],
        )
        return created["repository"], True
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    repository: dict[str, Any] = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    if log is not None and not repository.get("imageScanningConfiguration", {}).get("scanOnPush", False):
        log.write(f"warning: ECR repository {name} exists without scan on push; leaving it unchanged\n")
    if log is not None and str(repository.get("imageTagMutability", "MUTABLE")).startswith("MUTABLE"):
        log.write(f"warning: ECR repository {name} lets tags be overwritten; deploys use digests regardless\n")
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


def image_uri(host: str, repository: str, tag: str) -> str:
    return f"{registry_host(host)}/{repository}:{tag}"


def _tag_of(image: str) -> str | None:
    name = image.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[colon + 1 :] if colon > slash else None


def require_pinned(image: str) -> str:
    """``image`` when it names one build: a digest (``@sha256:...``) or a tag other than ``latest``."""
    if _DIGEST.search(image):
        return image
    tag = _tag_of(image)
    if tag is None or tag == LATEST or "@" in image:
        raise ConfigurationError(
            f"image {image!r} is not pinned: give a digest (@sha256:...) or a revision tag (what push prints)"
        )
    return image


def pin(ecr: Any, image: str) -> str:
    """``image`` by digest: as given when it names one, else its revision tag looked up in ECR.

    Only a private ECR image's tag can be looked up here; any other image must come by digest.
    """
    if _DIGEST.search(require_pinned(image)):
        return image
    tag = str(_tag_of(image))
    name = image[: -len(tag) - 1]
    host, _, repository = name.partition("/")
    found = _ECR_HOST.match(host)
    if found is None:
        raise ConfigurationError(f"image {image!r} is not in ECR, so its tag cannot be resolved: give its digest")
    region = getattr(getattr(ecr, "meta", None), "region_name", found.group(2))
    if found.group(2) != region:
        raise ConfigurationError(f"image {image!r} is in region {found.group(2)}, not {region}: pass --region")
    return _digest_of(ecr, repository, tag, registry_id=found.group(1), uri=name)


def _digest_of(ecr: Any, repository: str, tag: str, *, registry_id: str | None = None, uri: str = "") -> str:
    """``<uri>@<digest>`` of the image tagged ``tag``; the repository's own URI when ``uri`` is empty."""
    check_tag(tag)
    ids = {"registryId": registry_id} if registry_id else {}
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}], **ids)["imageDetails"]
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
        found = []
    if not found:
        raise ConfigurationError(f"no image tagged {tag} in ECR repository {repository}: push it first")
    if not uri:
        uri = ecr.describe_repositories(repositoryNames=[repository], **ids)["repositories"][0]["repositoryUri"]
    return f"{uri}@{found[0]['imageDigest']}"


def resolve_revision(ecr: Any, repository: str, revision: str) -> str:
    """``<repository URI>@<digest>`` of the image tagged ``revision`` in ECR (what ``push`` tagged it)."""
    return _digest_of(ecr, repository, revision)


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


# ---- the whole push ---------------------------------------------------------------------------------------


def _credentials_for(
    repo: Mapping[str, Any], auth: RegistryAuth, registry_url: str | None
) -> tuple[str, RegistryAuth | None]:
    """``(host to push to, the ECR credentials when that host is the one they were issued for, else None)``."""
    ecr_host = registry_host(str(repo.get("repositoryUri") or ""))
    if ecr_host != auth.host:
        raise PushError(f"ECR issued a token for {auth.host}, not for the repository's registry {ecr_host}")
    host = registry_host(registry_url) if registry_url else ecr_host
    return host, auth if host == auth.host else None


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
    standing in for ECR; the ECR token is not sent there (Docker's own credentials for that host apply).
    """
    check_tag(revision)
    try:
        image = docker_client.images.get(local_image)
    except docker.errors.ImageNotFound:
        raise PushError(f"local image {local_image} not found; build it first") from None

    repo, created = ensure_repository(ecr_client, repository, log)
    if log is not None:
        verb = "created" if created else "using existing"
        log.write(f"{verb} ECR repository {repo['repositoryName']} (account {repo['registryId']})\n")
    auth = registry_auth(ecr_client, repo["registryId"])

    host, credentials = _credentials_for(repo, auth, registry_url)
    if credentials is not None:
        docker_login(docker_client, credentials, credentials.proxy_endpoint)
    elif log is not None:
        log.write(f"pushing to {host} without the ECR token (it is sent only to {auth.host})\n")

    target = f"{host}/{repository}"
    tags = [revision] if revision == LATEST else [revision, LATEST]
    digest = None
    for tag in tags:
        if not image.tag(target, tag=tag):
            raise PushError(f"could not tag {local_image} as {target}:{tag}")
    for tag in tags:
        try:
            digest = push_reference(docker_client, target, tag, credentials, log) or digest
        except PushError as exc:
            if "immutable" not in str(exc):
                raise
            raise PushError(
                f"{exc} (tag {tag} already names another build of {repository} and cannot be moved: commit the "
                "changes and push that revision, or pass --tag-revision)"
            ) from None
    uris = tuple(f"{target}:{tag}" for tag in tags)
    return PushResult(uri=uris[0], uris=uris, digest=digest, repository_created=created)
