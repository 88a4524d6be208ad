"""Script mode: the images run users' own training scripts and serve their modules, as AWS's framework containers do.

Only ``Framework`` is imported here: ``serve``'s supervisor and workers import it through every image's ``image.py``,
and the runner (subprocesses, MPI, SSH, downloads, installed-package look-ups; ``script_mode.runner``) is imported by
a training job only, about a third of a worker's import of ``image.py`` otherwise.
"""

from sm_contract.script_mode.framework import Framework

__all__ = ["Framework"]
