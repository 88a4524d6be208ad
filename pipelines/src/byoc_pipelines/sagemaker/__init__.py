"""SageMaker API requests as AWS takes them, their botocore shape check, and the runner protocol behind tasks."""
