"""Docker's side of a push to ECR: registry credentials, login through the daemon, and a push with progress lines.

The Docker SDK rather than the ``docker`` CLI: the registry password travels to the daemon in the request
header of this process only, whereas ``docker login`` would store it in ``~/.docker/config.json`` (in plain text
unless a credential helper is set up, and a configured ecr-login helper would take over instead); and the
daemon's JSON progress messages carry push errors as structured ``errorDetail``, instead of CLI text that would
have to be parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import docker.errors

from byoc_pipelines.errors import PushError, one_line

# Seconds the Docker client waits for the next chunk of a response; compressing a large layer before its
# upload starts can take a while on a small machine.
DOCKER_TIMEOUT_S = 900


@dataclass(frozen=True)
class RegistryAuth:
    """Docker credentials decoded from an ECR authorization token."""

    username: str
    password: str = field(repr=False)  # a registry credential: never in logs, tracebacks or reprs
    proxy_endpoint: str  # https://<account>.dkr.ecr.<region>.amazonaws.com

    @property
    def host(self) -> str:
        return registry_host(self.proxy_endpoint)


def registry_host(url: str) -> str:
    """``https://host:port/`` or ``host:port`` -> ``host:port``."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip(), flags=re.IGNORECASE)
    return host.split("/", 1)[0]


def docker_login(docker_client: Any, auth: RegistryAuth, registry: str) -> None:
    """Check the credentials against ``registry`` through the daemon; the SDK keeps them for this client."""
    try:
        docker_client.login(username=auth.username, password=auth.password, registry=registry, reauth=True)
    except docker.errors.APIError as exc:
        raise PushError(
            f"docker login to {registry_host(registry)} failed: {one_line(exc.explanation or exc)}"
        ) from None


def push_reference(
    docker_client: Any, repository: str, tag: str, auth: RegistryAuth | None, log: TextIO | None = None
) -> str | None:
    """``docker push repository:tag`` with progress lines on ``log``; returns the manifest digest.

    ``auth`` goes with the push only when ``repository`` is on the registry it is for; otherwise nothing.
    """
    reference = f"{repository}:{tag}"
    if auth is not None and registry_host(repository) != auth.host:
        raise PushError(f"refusing to send the credentials for {auth.host} to {registry_host(repository)}")
    credentials = {"username": auth.username, "password": auth.password} if auth is not None else None
    try:
        stream = docker_client.images.push(repository, tag=tag, stream=True, decode=True, auth_config=credentials)
        return _follow_push(stream, reference, log)
    except docker.errors.APIError as exc:
        raise PushError(f"push of {reference} failed: {one_line(exc.explanation or exc)}") from None


def _follow_push(stream: Iterable[Mapping[str, Any]], reference: str, log: TextIO | None) -> str | None:
    """Print each layer's status when it changes (not every progress bar tick); raise on an error message."""
    digest = None
    last_status: dict[str, str] = {}
    for message in stream:
        if "error" in message or "errorDetail" in message:
            detail = message.get("errorDetail") or {}
            text = detail.get("message") or message.get("error") or "unknown error"
            raise PushError(f"push of {reference} failed: {one_line(text)}")
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
            log.write(f"{layer}: {status}\n")
        else:
            log.write(f"{status}\n")
        log.flush()
    return digest
