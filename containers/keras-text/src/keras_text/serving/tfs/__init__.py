"""The contract of AWS's SageMaker TensorFlow Serving container, honoured in Python (no tensorflow_model_server)."""

CODE = "code"  # the model's folder of handlers (inference.py), their requirements.txt and lib/
