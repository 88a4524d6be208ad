"""Error types: user errors that end a job or a request cleanly, each with its exit code or HTTP status."""

from __future__ import annotations


class ContractError(Exception):
    """A problem the user can fix (bad configuration or data); its message is the failure reason."""


class ConfigurationError(ContractError):
    """A hyperparameter or configuration file is missing, unknown or of the wrong type."""


class ChannelNotFoundError(ContractError):
    """A required input channel is absent."""

    def __init__(self, name: str, present: list[str]) -> None:
        listed = ", ".join(sorted(present)) if present else "none"
        super().__init__(f"channel '{name}' is required but missing (channels present: {listed})")
        self.name = name
        self.present = present


class DataError(ContractError):
    """A channel's file exists but its content is unusable."""


class CheckpointError(ContractError):
    """The checkpoint folder holds a set of files that does not check out against its manifest."""


class ModelLoadError(ContractError):
    """The model directory does not hold a loadable model."""


class TrainingInterrupted(Exception):
    """Training stopped early because SIGTERM arrived; a checkpoint has been written."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process ended by the signal


class RequestError(ContractError):
    """An invocation the client got wrong; answered with ``status_code`` and a JSON body."""

    status_code = 400
    error = "bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict[str, str]:
        """The JSON error body: a short error name and the detail a user can act on."""
        return {"error": self.error, "detail": self.detail}


class InvalidPayloadError(RequestError):
    status_code = 400
    error = "invalid payload"


class UnsupportedMediaTypeError(RequestError):
    status_code = 415
    error = "unsupported content type"


class NotAcceptableError(RequestError):
    status_code = 406
    error = "not acceptable"


class RequestTimeoutError(RequestError):
    """The request's body did not arrive within the model-server timeout."""

    status_code = 408
    error = "request timeout"


class PayloadTooLargeError(RequestError):
    status_code = 413
    error = "payload too large"


class ServerBusyError(RequestError):
    """The worker's queue is full: the client may retry (SageMaker's front end does)."""

    status_code = 503
    error = "server busy"


class TimedOutError(RequestError):
    """The model-server timeout passed before the answer was ready; the work was dropped."""

    status_code = 504
    error = "timed out"
