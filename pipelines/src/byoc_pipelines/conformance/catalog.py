"""Every check of the suite: its id, what it asserts, the limit, and where AWS documents that limit.

The one list the runner, the reports and the README's table come from (``conformance --list-checks`` prints the
table; a unit test keeps the README in step). Sources: "DG <page>" is the SageMaker Developer Guide page
``https://docs.aws.amazon.com/sagemaker/latest/dg/<page>.html``; "botocore" the service models shipped in botocore.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    id: str
    family: str
    title: str
    limit: str
    source: str


DG_TRAIN = "DG your-algorithms-training-algo-dockerfile"
DG_RUN = "DG your-algorithms-training-algo-running-container"
DG_OUTPUT = "DG your-algorithms-training-algo-output"
DG_HOST = "DG your-algorithms-inference-code"
DG_BATCH = "DG your-algorithms-batch-code"
DG_PIPELINE = "DG inference-pipeline-real-time"
DG_MMS = "DG mms-container-apis, build-multi-model-build-container"
DG_SERVERLESS = "DG serverless-endpoints"
SDK_V3 = "not in the DG: SDK v3 source, sagemaker/train/local/local_container.py"
# The DG and botocore say a 4xx/5xx reaches the caller as ModelError; which 4xx is HTTP's meaning, not AWS's.
HTTP_STATUS = "HTTP semantics; AWS documents no status (botocore ModelError)"

CHECKS: tuple[Check, ...] = (
    Check(
        "T1.args",
        "training",
        "`train`/`serve` reach the program: exec-form ENTRYPOINT or none",
        "no `/bin/sh -c` ENTRYPOINT",
        DG_TRAIN,
    ),
    Check(
        "T1.pid1",
        "training",
        "PID 1 is the program (or an init that forwards signals), not a shell waiting on it",
        "PID 1 gets SIGTERM",
        DG_TRAIN,
    ),
    Check(
        "T1.cmd",
        "training",
        'the image has `CMD ["train"]` (SDK v3 ModelTrainer local mode passes no argument)',
        '`CMD ["train"]`',
        SDK_V3,
    ),
    Check(
        "T2.success",
        "training",
        "a job exits 0 on success",
        "exit 0",
        "DG your-algorithms-training-signal-success-failure",
    ),
    Check(
        "T2.failure",
        "training",
        "a job the trainer must refuse exits non-zero",
        "exit != 0",
        "DG your-algorithms-training-signal-success-failure",
    ),
    Check(
        "T3",
        "training",
        "on failure `/opt/ml/output/failure` holds the reason within its first 1024 characters",
        "reason in 1024 characters",
        f"{DG_OUTPUT}; botocore FailureReason",
    ),
    Check(
        "T4",
        "training",
        "reads SageMaker's config files (every hyperparameter a string) and channels; "
        "leaves the model in `/opt/ml/model`",
        "model files present",
        f"{DG_RUN}; botocore HyperParameters",
    ),
    Check(
        "T5",
        "training",
        "SIGTERM (StopTrainingJob, spot interruption) ends the job",
        "<= 120 s",
        "botocore StopTrainingJob",
    ),
    Check(
        "T6",
        "training",
        "two hosts on one Docker network, each with its own `resourceconfig.json`: both exit 0",
        "exit 0 on both",
        DG_RUN,
    ),
    Check("S1.port", "serving", "`serve` listens on port 8080 on every interface", "port 8080", DG_HOST),
    Check("S1.sigterm", "serving", "SIGTERM stops the server", "<= 30 s", DG_HOST),
    Check(
        "S2.ready",
        "serving",
        "`GET /ping` answers 200 after start-up, model mounted read-only",
        "<= 240 s",
        f"{DG_HOST}; botocore ProductionVariant",
    ),
    Check("S2.latency", "serving", "every `GET /ping` answers within 2 s", "<= 2 s", DG_HOST),
    Check("S2.busy", "serving", "`GET /ping` answers within 2 s while long `/invocations` run", "<= 2 s", DG_HOST),
    Check("S3.accept", "serving", "connections are accepted quickly, idle and busy", "<= 250 ms", DG_HOST),
    Check(
        "S3.invocations",
        "serving",
        "`POST /invocations` answers each sample request with the expected shape",
        "<= 60 s",
        DG_HOST,
    ),
    Check(
        "S4.headers",
        "serving",
        "the headers SageMaker forwards or adds are tolerated: the same answer",
        "same answer",
        f"{DG_HOST}; botocore InvokeEndpoint",
    ),
    Check(
        "S4.custom-attributes",
        "serving",
        "`X-Amzn-SageMaker-Custom-Attributes` reaches the model",
        "an answer that depends on it",
        "botocore InvokeEndpoint",
    ),
    Check(
        "S5.max-body",
        "serving",
        "a 6,291,456-byte body is answered, or refused with a readable 4xx",
        "6 MB, no reset",
        "botocore InvokeEndpoint Body",
    ),
    Check(
        "S5.over-limit",
        "serving",
        "a larger body gets a readable 413, never a reset",
        "413",
        "botocore InvokeEndpoint Body (6 MB); the 413 is HTTP's, not in AWS's docs",
    ),
    Check("S6.content-type", "serving", "an unknown Content-Type gets 415 with a body", "415", HTTP_STATUS),
    Check("S6.accept", "serving", "an Accept the model cannot write gets 406 with a body", "406", HTTP_STATUS),
    Check("S6.malformed", "serving", "a malformed body gets 400 with a body, never 5xx", "400", HTTP_STATUS),
    Check("S6.empty", "serving", "an empty body gets a 4xx with a body, never 5xx", "4xx", HTTP_STATUS),
    Check(
        "S7.bind-port",
        "serving",
        "with the accept-bind-to-port label, `SAGEMAKER_BIND_TO_PORT` is honoured",
        "that port only",
        DG_PIPELINE,
    ),
    Check(
        "S7.safe-ports",
        "serving",
        "with the label, any second port lies in `SAGEMAKER_SAFE_PORT_RANGE`",
        "inside the range",
        DG_PIPELINE,
    ),
    Check(
        "B.environment",
        "batch",
        "`SAGEMAKER_BATCH`, `_MAX_PAYLOAD_IN_MB`, `_BATCH_STRATEGY`, `_MAX_CONCURRENT_TRANSFORMS` accepted",
        "/ping 200",
        DG_BATCH,
    ),
    Check(
        "B.execution-parameters",
        "batch",
        "`GET /execution-parameters`, where offered, has the API's shape and casing (`MultiRecord`), at most 100 MB"
        " in flight (MaxConcurrentTransforms x MaxPayloadInMB)",
        "API enum; 100 MB",
        f"{DG_BATCH}; botocore BatchStrategy; API CreateTransformJob",
    ),
    Check(
        "B.multi-record",
        "batch",
        "a MultiRecord request of `MaxPayloadInMB` is answered, a line per record",
        "<= 600 s",
        f"{DG_BATCH}; botocore ModelClientConfig (default 600 s)",
    ),
    Check("M.load", "multi-model", "`POST /models` loads a model", "200", DG_MMS),
    Check(
        "M.list",
        "multi-model",
        "`GET /models` lists it (`modelName`, `modelUrl`), following `nextPageToken`",
        "listed",
        DG_MMS,
    ),
    Check("M.load-twice", "multi-model", "loading a loaded model again gets 409", "409", DG_MMS),
    Check("M.get", "multi-model", "`GET /models/{name}` describes it; an unknown name gets 404", "200 / 404", DG_MMS),
    Check(
        "M.invoke",
        "multi-model",
        "`POST /models/{name}/invoke` answers the sample request; an unknown name gets 404",
        "200 / 404",
        DG_MMS,
    ),
    Check(
        "M.unload", "multi-model", "`DELETE /models/{name}` unloads it; then it is gone (404)", "200, then 404", DG_MMS
    ),
    Check(
        "V.ping",
        "serverless",
        "under the `--memory` cap, `/ping` answers 200",
        "<= 180 s",
        f"{DG_SERVERLESS}; botocore MemorySizeInMB",
    ),
    Check(
        "V.payload",
        "serverless",
        "a 4 MB body is answered, or refused with a readable 4xx",
        "4 MB, no reset",
        DG_SERVERLESS,
    ),
    Check("V.invocations", "serverless", "each sample request answered under the memory cap", "<= 60 s", DG_SERVERLESS),
)

BY_ID = {check.id: check for check in CHECKS}
FAMILIES = ("training", "serving", "batch", "multi-model", "serverless")


def markdown_table() -> str:
    """The README's table of checks."""
    lines = ["| check | what | limit | AWS source |", "|---|---|---|---|"]
    lines += [f"| {c.id} | {c.title} | {c.limit} | {c.source} |" for c in CHECKS]
    return "\n".join(lines)
