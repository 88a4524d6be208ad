"""Which errors a Retry or Catch entry's ``ErrorEquals`` matches, as Step Functions defines it.

DG "Handling errors in Step Functions workflows": ``States.ALL`` matches any error name except the terminal
``States.Runtime`` and ``States.DataLimitExceeded`` (a retry or catch on ``States.ALL`` does not catch them);
``States.TaskFailed`` matches any error name except ``States.Timeout`` (and those two).
"""

from __future__ import annotations

from collections.abc import Collection

TERMINAL_ERRORS = ("States.Runtime", "States.DataLimitExceeded")  # never retried nor caught by a wildcard


def matches(error: str, error_equals: Collection[str]) -> bool:
    """Whether an ``ErrorEquals`` list matches ``error``."""
    if error in error_equals:
        return True
    if error in TERMINAL_ERRORS:
        return False
    return "States.ALL" in error_equals or ("States.TaskFailed" in error_equals and error != "States.Timeout")
