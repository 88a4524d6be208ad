"""IAM documents of the pipelines role: who may assume it, and least-privilege inline policies.

One role serves Step Functions (runs the state machine), SageMaker (training, transform, hosting pull the
image and data) and Lambda (the CreateModel function). Every statement is scoped to the project's names
(``<prefix>-*`` jobs, models, endpoints; the project bucket; the ``<namespace>/*`` ECR repositories) except the
few actions that AWS only authorises on ``*`` (ecr:GetAuthorizationToken, cloudwatch:PutMetricData, the latter
limited by namespace).
"""

from __future__ import annotations

from typing import Any

from byoc_pipelines.config import PipelineConfig

VERSION = "2012-10-17"
TRUSTED_SERVICES = ("sagemaker.amazonaws.com", "states.amazonaws.com", "lambda.amazonaws.com")
# Step Functions watches .sync SageMaker jobs through these managed EventBridge rules.
SYNC_RULES = (
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "StepFunctionsGetEventsForSageMakerTransformJobsRule",
)


def trust_policy(config: PipelineConfig) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": list(TRUSTED_SERVICES)},
                "Action": "sts:AssumeRole",
                # Only on behalf of our own account (confused-deputy protection).
                "Condition": {"StringEquals": {"aws:SourceAccount": config.account_id}},
            }
        ],
    }


def _arn(config: PipelineConfig, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{config.region}:{config.account_id}:{resource}"


def sagemaker_policy(config: PipelineConfig) -> dict[str, Any]:
    """What the state machine and the Lambda function do with SageMaker resources named ``<prefix>-*``."""
    p = config.prefix
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "SageMakerJobs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:CreateTransformJob",
                    "sagemaker:DescribeTransformJob",
                    "sagemaker:StopTransformJob",
                    "sagemaker:AddTags",
                ],
                "Resource": [
                    _arn(config, "sagemaker", f"training-job/{p}-*"),
                    _arn(config, "sagemaker", f"transform-job/{p}-*"),
                ],
            },
            {
                "Sid": "SageMakerHosting",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:AddTags",
                ],
                "Resource": [
                    _arn(config, "sagemaker", f"model/{p}-*"),
                    _arn(config, "sagemaker", f"endpoint-config/{p}-*"),
                    _arn(config, "sagemaker", f"endpoint/{p}-*"),
                ],
            },
            {
                "Sid": "SyncIntegrationRules",
                "Effect": "Allow",
                "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                "Resource": [_arn(config, "events", f"rule/{rule}") for rule in SYNC_RULES],
            },
            {
                "Sid": "PassThisRoleToSageMaker",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": config.role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            {
                "Sid": "InvokeCreateModelFunction",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [
                    _arn(config, "lambda", f"function:{config.create_model_function}"),
                    _arn(config, "lambda", f"function:{config.create_model_function}:*"),
                ],
            },
        ],
    }


def data_policy(config: PipelineConfig) -> dict[str, Any]:
    """Data, images and logs the containers and the function need."""
    bucket = f"arn:aws:s3:::{config.bucket}"
    return {
        "Version": VERSION,
        "Statement": [
            {"Sid": "ListProjectBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket},
            {
                "Sid": "ReadWriteProjectBucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{bucket}/*",
            },
            {
                "Sid": "PullProjectImages",
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                "Resource": _arn(config, "ecr", f"repository/{config.ecr_namespace}/*"),
            },
            {
                # GetAuthorizationToken cannot be scoped to a resource.
                "Sid": "RegistryLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [
                    _arn(config, "logs", "log-group:/aws/sagemaker/*"),
                    _arn(config, "logs", f"log-group:/aws/lambda/{config.create_model_function}:*"),
                ],
            },
            {
                # PutMetricData has no resource; the namespace condition keeps it to SageMaker's metrics.
                "Sid": "TrainingMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            },
        ],
    }


def inline_policies(config: PipelineConfig) -> dict[str, dict[str, Any]]:
    return {f"{config.prefix}-sagemaker": sagemaker_policy(config), f"{config.prefix}-data": data_policy(config)}
