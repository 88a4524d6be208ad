"""Workflows around the BYO images: SageMaker request builders, local mode, Step Functions and endpoints."""
