"""boto3 clients from the usual credential chain, with one-line errors when there is no region or no credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions

from byoc_pipelines.errors import ConfigurationError

ClientFactory = Callable[[str], Any]  # service name -> boto3 client
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (or --profile) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or run where an IAM role is available"
)


def session(region: str | None = None, profile: str | None = None) -> boto3.Session:
    """A session with a region and credentials, else :class:`ConfigurationError` saying which is missing."""
    try:
        found = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigurationError(str(exc)) from None
    if not found.region_name:
        raise ConfigurationError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION, a profile region, or --region")
    if found.get_credentials() is None:
        raise ConfigurationError(NO_CREDENTIALS)
    return found


def factory(region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> ClientFactory:
    """Clients of one session, made when first asked for, so commands that need no AWS never check for it."""
    made: list[boto3.Session] = []

    def client(service: str) -> Any:
        if not made:
            made.append(session(region, profile))
        return made[0].client(service, endpoint_url=endpoint_url)

    return client
