"""What every command of the CLI gets besides its arguments: the config, AWS clients, the output streams."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TextIO

from byoc_pipelines.aws.clients import ClientFactory
from byoc_pipelines.config import PipelineConfig


@dataclass(frozen=True)
class Context:
    config: PipelineConfig
    clients: ClientFactory  # service name -> boto3 client, made on first use
    out: TextIO  # results (and, for long runs, progress): always on the console
    err: TextIO  # the one ``error:`` line, and progress of a push
    verbose: bool = False

    def with_account(self) -> PipelineConfig:
        """The config with the caller's account (one STS call), for ARNs of deployed resources."""
        account = self.clients("sts").get_caller_identity()["Account"]
        return replace(self.config, account_id=account)


Handler = Callable[[argparse.Namespace, Context], int]
