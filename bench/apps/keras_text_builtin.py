"""keras-text's built-in handler (``keras_text.predictor.TextHandler``) behind the image's own server.

The image serves its model through ``code/inference.py`` and the TF Serving REST API in process
(``keras_text.tfs``); this app factory serves the same model through ``TextHandler`` instead (the model's
``inference.py`` functions called directly, no REST round trip), with the same uvicorn workers, threads and
Gate. bench/keras_text_tfs.py mounts this folder into the image and starts it with ``sm_contract.server.serve``.
"""

from __future__ import annotations

from starlette.applications import Starlette

from keras_text.predictor import TextHandler
from sm_contract import server


def app() -> Starlette:
    return server.app_from_environ(TextHandler.load)
