"""Workflows around the BYO images: SageMaker requests, Step Functions definitions, AWS and local runs.

Sub-packages by concern: :mod:`~byoc_pipelines.asl` (the state machine language), :mod:`~byoc_pipelines.sagemaker`
(request dicts and the runner protocol), :mod:`~byoc_pipelines.aws` (every AWS call), :mod:`~byoc_pipelines.local`
(emulation on one machine); :mod:`~byoc_pipelines.cli` is the one command line.
"""
