"""Script mode: the images run users' own training scripts and serve their modules, as AWS's framework containers do.

The runner (subprocesses, MPI, SSH, downloads, installed-package look-ups) is imported when a job asks for it:
``serve``'s supervisor and workers import ``Framework`` only (about a third of a worker's import of ``image.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sm_contract.script_mode.framework import Framework

if TYPE_CHECKING:
    from sm_contract.script_mode.runner import run_builtin, run_user_script

__all__ = ["Framework", "run_builtin", "run_user_script"]
_RUNNER = ("run_builtin", "run_user_script")


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        from sm_contract.script_mode import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
