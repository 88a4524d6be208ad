"""The keras-text image's ``train``, ``serve`` and worker app (console scripts point here)."""

from sm_contract.entrypoints import Image

IMAGE = Image(
    trainer="keras_text.train:train",
    loader="keras_text.predictor:TextHandler.load",
    app_factory="keras_text.image:IMAGE.app",
    # Serving runs the SavedModel and never needs tf-keras: TensorFlow then skips importing it in every worker.
    serve_environment={"TF_USE_LEGACY_KERAS": "0"},
)
