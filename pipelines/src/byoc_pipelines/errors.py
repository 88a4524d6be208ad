"""Errors of the pipelines package; the CLI prints one line per error and exits non-zero."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every failure the pipeline tools explain in one line."""


class DefinitionError(PipelineError):
    """A state machine definition failed a validator."""


class DeployError(PipelineError):
    """An AWS call of deploy, run or endpoint management failed."""


class ExecutionFailedError(PipelineError):
    """A Step Functions execution ended in another status than SUCCEEDED."""
