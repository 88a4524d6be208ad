"""``python -m chainer_mnist.training``: the built-in trainer as a program, the form a multi-host job starts it
in (one MPI process per host under ``mpirun``, training data-parallel)."""

import sys

from chainer_mnist.training.job import train
from sm_contract.training import run_training

if __name__ == "__main__":
    sys.exit(run_training(train))
