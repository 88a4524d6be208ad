"""The contract of AWS's SageMaker TensorFlow Serving container, honoured in Python (no tensorflow_model_server)."""
