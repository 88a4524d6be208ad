"""What ``serve``'s supervisor runs once before the workers start: the model's ``code/requirements.txt`` checked
and installed.

Only the standard library and sm_contract's user code are imported here, so the supervisor loads neither the
server's modules (Starlette, requests, NumPy) nor TensorFlow: the workers do.
"""

from __future__ import annotations

import logging

from keras_text.serving.tfs import CODE
from sm_contract.environment import ServingEnv
from sm_contract.script_mode import model_requirements, user_code

logger = logging.getLogger(__name__)


def prepare(env: ServingEnv) -> None:
    """``code/requirements.txt`` installed once before the workers start, unless ``code/lib`` vendors the modules
    (AWS's container ignores requirements.txt then too); a failure stops the container with one line."""
    code = env.model_dir / CODE
    if not (code / "inference.py").is_file():
        return
    if (code / "lib").is_dir():
        if (code / user_code.REQUIREMENTS).is_file():
            logger.info("code/lib holds the modules: ignoring code/requirements.txt")
        return
    model_requirements.install(code, env.environ)
