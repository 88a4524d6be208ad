"""Data-parallel training across MPI processes (ChainerMN); a process started without mpirun is a group of one.

Every process takes its share of each global batch and the optimizer averages the gradients over all of them,
so a run on several hosts makes the same updates as one host with the same batch size, up to rounding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import chainer
import numpy as np

WORLD_SIZE_VAR = "OMPI_COMM_WORLD_SIZE"  # set by Open MPI's mpirun for each process it starts


class Group(Protocol):
    rank: int
    size: int

    def optimizer(self, optimizer: chainer.Optimizer) -> chainer.Optimizer: ...

    def sum(self, values: Sequence[float]) -> list[float]: ...

    def any(self, flag: bool) -> bool: ...

    def broadcast(self, value: Any) -> Any: ...


class Solo:
    """One process: every collective operation is the identity."""

    rank, size = 0, 1

    def optimizer(self, optimizer: chainer.Optimizer) -> chainer.Optimizer:
        return optimizer

    def sum(self, values: Sequence[float]) -> list[float]:
        return list(values)

    def any(self, flag: bool) -> bool:
        return flag

    def broadcast(self, value: Any) -> Any:
        return value


class Mpi:
    """The processes of an mpirun, with ChainerMN's pure-MPI ``naive`` communicator (CPU, no NCCL)."""

    def __init__(self) -> None:
        import chainermn

        self._chainermn = chainermn
        self.comm = chainermn.create_communicator("naive")
        self.rank, self.size = int(self.comm.rank), int(self.comm.size)

    def optimizer(self, optimizer: chainer.Optimizer) -> chainer.Optimizer:
        """Averages the gradients of all processes before each update; starts from rank 0's parameters."""
        return self._chainermn.create_multi_node_optimizer(optimizer, self.comm)

    def sum(self, values: Sequence[float]) -> list[float]:
        from mpi4py import MPI

        total = self.comm.mpi_comm.allreduce(np.asarray(values, dtype=np.float64), op=MPI.SUM)
        return [float(v) for v in total]

    def any(self, flag: bool) -> bool:
        from mpi4py import MPI

        return bool(self.comm.mpi_comm.allreduce(int(flag), op=MPI.MAX))

    def broadcast(self, value: Any) -> Any:
        # Wrapped, as ChainerMN takes None from the other ranks only, and refuses None from the root.
        return self.comm.bcast_obj([value] if self.rank == 0 else None, root=0)[0]


def group() -> Group:
    return Mpi() if int(os.environ.get(WORLD_SIZE_VAR, "1")) > 1 else Solo()
