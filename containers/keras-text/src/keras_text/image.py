"""The keras-text image's ``train``, ``serve`` and worker app (console scripts point here)."""

from sm_contract.entrypoints import Image
from sm_contract.script_mode import Framework

IMAGE = Image(
    trainer="keras_text.training.job:train",
    loader="keras_text.serving.app:load",
    app_factory="keras_text.image:IMAGE.app",
    framework=Framework(
        name="tensorflow",
        multi_host="per_host",  # every host runs the program; MultiWorkerMirroredStrategy joins them (TF_CONFIG)
        builtin_module="keras_text.training",
        model_dir_argument=True,  # AWS's TensorFlow containers give scripts --model_dir
    ),
    # Serving runs the SavedModel and never needs tf-keras: TensorFlow then skips importing it in every worker.
    serve_environment={"TF_USE_LEGACY_KERAS": "0"},
    serve_prepare="keras_text.serving.app:prepare",  # code/requirements.txt, as AWS's TF Serving container does
    serve_rest_port=True,  # TF Serving's REST API on 8501, where handlers' context.rest_uri points
    routes="keras_text.serving.app:ROUTES",
)
