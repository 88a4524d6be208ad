"""Local SageMaker endpoints on real containers, as AWS runs them: several at once, production variants with
weights, UpdateEndpoint blue/green or rolling with automatic rollback, multi-model endpoints.

:class:`Endpoints` takes the same request dicts as the SageMaker API (``LocalModeRunner`` sends it the endpoint
operations); see the package's modules for what each part follows and where AWS documents it.
"""

from byoc_pipelines.local.endpoints.service import OPERATIONS, Endpoints

__all__ = ["OPERATIONS", "Endpoints"]
