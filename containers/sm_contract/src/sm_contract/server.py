"""Running the model server: uvicorn workers on the SageMaker port, threads per worker, start-up failures.

``serve`` is what an image's ``serve`` console script calls; each uvicorn worker process imports the image's
app factory and builds its own app (and model) from the environment.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sm_contract import log_config
from sm_contract.environment import ServingEnv

if TYPE_CHECKING:  # the supervisor imports neither the app nor its libraries: only the workers need them
    import uvicorn
    from starlette.routing import BaseRoute

    from sm_contract.serving import Loader, ServingApp

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 10  # SageMaker sends SIGKILL 30 s after SIGTERM
# Connections (and requests) a worker holds at once; more are answered 503 by uvicorn before the app. Above the
# gate's own bound (queue_size waiting + the one computing, answered with JSON) with room for idle keep-alive
# connections and /ping, so that it only stops floods of connections.
MIN_CONNECTIONS = 256
KEEP_ALIVE_S = 75  # longer than SageMaker's front end idles, so it never hits a closed socket
# How long uvicorn's supervisor waits for a worker's answer to its health check before it kills and replaces the
# worker (uvicorn's default: 5 s). A thread of the worker answers, and it needs the GIL, which a worker importing
# its framework or loading its model holds for seconds at a time (TensorFlow's 600 MB library loads under it),
# several times longer on a busy machine: 5 s killed TensorFlow workers mid-load. A worker deep in a long request
# (a MultiRecord batch of MaxPayloadInMB) can be as silent, so the patience is at least the request timeout. A
# worker that crashes is replaced at once whatever this is (its process is gone); only one that hangs is replaced
# later. The supervisor handles SIGTERM between checks, so this also bounds how long a silent worker delays it
# (SageMaker kills 30 s after SIGTERM: a worker silent that long is lost either way).
WORKER_HEALTHCHECK_S = 25
# Thread-pool sizes of the math libraries an image may use; read when each library starts.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
TF_INTEROP_VAR = "TF_NUM_INTEROP_THREADS"
# The event loop of each of several workers (uvloop's when installed): a worker busy with a request leaves new
# connections to the others (see sm_contract.listener). A single worker keeps uvicorn's own ("auto").
BALANCING_LOOP = "sm_contract.listener:new_event_loop"


def configure_threads(env: ServingEnv, environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Give each worker its share of the CPUs (unless set): more threads per worker only contend.

    Measured with chainer-mnist: CPU per single-image request 1.3 ms with the default BLAS pool, 0.7 ms with one
    thread per worker. Called once before the workers start, which inherit the variables.
    """
    for name in THREAD_VARS:
        environ.setdefault(name, str(env.threads_per_worker))
    environ.setdefault(TF_INTEROP_VAR, "1")  # one request at a time per worker: inter-op parallelism idles


def uvicorn_config(app: Any, env: ServingEnv, **settings: Any) -> uvicorn.Config:
    """uvicorn's settings for the model server: keep-alive, shutdown, and bounds on connections and headers."""
    import uvicorn

    from sm_contract.http_protocol import MAX_HEADER_BYTES, BoundedHttpToolsProtocol

    return uvicorn.Config(
        app,
        access_log=False,
        log_config=None,
        proxy_headers=False,  # nothing sits in front of the container whose forwarding headers would matter
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        limit_concurrency=connection_limit(env),
        timeout_worker_healthcheck=max(WORKER_HEALTHCHECK_S, env.timeout_s),
        http=BoundedHttpToolsProtocol,
        loop=BALANCING_LOOP if settings.get("workers", 1) > 1 else "auto",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # the same header bound when h11 is used instead
        **settings,
    )


def connection_limit(env: ServingEnv) -> int:
    """uvicorn's ``limit_concurrency`` for each worker (see MIN_CONNECTIONS)."""
    return max(MIN_CONNECTIONS, 2 * (env.queue_size + 1))


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))  # noqa: S104 - SageMaker reaches the container from outside
    sock.set_inheritable(True)
    return sock


def serve(app_factory: str, environ: Mapping[str, str] | None = None, extra_ports: Sequence[int] = ()) -> int:
    """Run uvicorn on ``SAGEMAKER_BIND_TO_PORT`` (and ``extra_ports``) with the configured worker processes.

    Returns the exit code: non-zero when a worker could not load the model, so the endpoint or transform job
    fails visibly instead of a container that runs without a model.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE  # exit code of a worker whose app (the model) failed to load

    from sm_contract.supervisor import Supervisor

    env = ServingEnv.from_environ(environ)
    log_config.configure(env.log_level)
    configure_threads(env)
    logger.info(
        "serving on port %d with %d worker(s), %d thread(s) each", env.port, env.workers, env.threads_per_worker
    )
    config = uvicorn_config(app_factory, env, factory=True, workers=env.workers)
    sockets = [bind(port) for port in (env.port, *extra_ports)]
    if env.workers == 1:
        server = uvicorn.Server(config)
        server.run(sockets=sockets)  # exits with STARTUP_FAILURE itself when the model fails to load
        return 0
    # uvicorn.run's multi-worker path returns normally when a worker fails during start-up; keeping the
    # supervisor lets us read the workers' exit codes and stop the container too. Workers are forked, one at a time.
    supervisor = Supervisor(config, sockets=sockets)
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        logger.error("worker(s) %s failed to start (see above); exiting", failed)
        return STARTUP_FAILURE
    return 0


def app_from_environ(load: Loader, routes: Sequence[BaseRoute] = ()) -> ServingApp:
    """What an image's app factory returns: settings from the environment, logging configured."""
    from sm_contract.serving import create_app

    env = ServingEnv.from_environ()
    log_config.configure(env.log_level)
    return create_app(load, env, routes=routes)
