"""``python -m sm_contract.script_mode.rank -- COMMAND...``: one MPI rank, started by the master's ``mpirun``.

mpirun hands every rank the master's environment. Before running COMMAND this puts back what belongs to the
host the rank runs on: ``SM_CURRENT_HOST`` (from that host's own ``resourceconfig.json``) and, on worker hosts,
a private ``SM_MODEL_DIR`` (only the master's model is kept; SDK local mode shares one model folder by all hosts).
"""

from __future__ import annotations

import os
import sys

from sm_contract.environment import TrainingEnv
from sm_contract.script_mode import mpi, script_env


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: python -m sm_contract.script_mode.rank -- COMMAND [ARG...]")
    env = TrainingEnv.from_environ()
    variables = {k: v for k, v in os.environ.items() if k.startswith("SM_")}
    if "SM_TRAINING_ENV" in variables:
        scratch = mpi.worker_model_dir()
        os.environ.update(script_env.for_host(variables, env.current_host, scratch))
        if not env.is_master:
            scratch.mkdir(parents=True, exist_ok=True)
    os.execvp(args[0], args)  # noqa: S606 - replaces this wrapper with the rank's own program


if __name__ == "__main__":
    main()
