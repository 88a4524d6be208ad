"""The one error hierarchy of the pipelines package; the CLI prints one ``error:`` line and exits with ``exit_code``."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every failure the pipeline tools explain in one line (exit status 1)."""

    exit_code = 1


class ConfigurationError(PipelineError):
    """Nothing could be attempted: no credentials, no region, no git revision, a bad argument (exit status 2)."""

    exit_code = 2


class ToolMissingError(PipelineError):
    """An external executable (a validator, Graphviz ``dot``) is not installed."""


class DefinitionError(PipelineError):
    """A state machine definition failed a validator, or names an unknown definition."""


class DeployError(PipelineError):
    """An AWS call of deploy, run or endpoint management failed."""


class ExecutionFailedError(PipelineError):
    """A Step Functions execution ended in another status than SUCCEEDED."""


class JobFailedError(PipelineError):
    """A SageMaker job run on this machine ended Failed."""


class InvocationError(PipelineError):
    """An endpoint answered an invocation with an error (InvokeEndpoint's ``ModelError`` for a model's 5xx)."""


class PushError(PipelineError):
    """Tagging or pushing an image to ECR failed."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace, newlines included, as one space: an error fit for one line."""
    return " ".join(str(text).split())
