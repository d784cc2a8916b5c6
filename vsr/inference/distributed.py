"""Sharing one upscaling job among processes started by ``torchrun`` or SLURM's ``srun``.

The processes (ranks) find each other the way Lightning's training does: its cluster
environments read the rank variables ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) or the ones ``srun`` sets
(``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, the node list). The work itself is
shared through the job folder (:mod:`vsr.video.job`); the process group only carries rank
0's verdict on that folder and the final wait, a few bytes. ``gloo`` runs both on any
device, so GPU ranks need no NCCL for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import torch
import torch.distributed as dist

#: Ranks wait for each other at the end of a job while the slowest finishes its last
#: segment, which can take hours on a CPU: the collectives must not time out before.
_WAIT_LIMIT = timedelta(days=7)


class ProcessTeam:
    """The ranks of a ``torchrun``/``srun`` launch (a :class:`vsr.video.Team`).

    Args:
        rank, size, local_rank: this process's place among ``size`` processes, and on its
            machine.
    """

    def __init__(self, rank: int, size: int, local_rank: int):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    def broadcast(self, value: object) -> object:
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def wait_for_all(self, poll: Callable[[], None]) -> None:
        work = dist.barrier(async_op=True)
        while not work.is_completed():
            poll()
            time.sleep(1.0)
        work.wait()

    def close(self) -> None:
        dist.destroy_process_group()


def launched_team() -> ProcessTeam | None:
    """The team of this launch when there are several processes, else None.

    Joins the process group (``gloo``) on first use.
    """
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    for environment in (TorchElasticEnvironment, SLURMEnvironment):
        if environment.detect():
            env = environment()
            break
    else:
        return None
    if env.world_size() < 2:
        return None
    if not dist.is_initialized():
        dist.init_process_group(
            "gloo", init_method=f"tcp://{env.main_address}:{env.main_port}",
            rank=env.global_rank(), world_size=env.world_size(), timeout=_WAIT_LIMIT,
        )
    return ProcessTeam(env.global_rank(), env.world_size(), env.local_rank())


def rank_device(device: str, team: ProcessTeam | None) -> str:
    """One GPU per rank: ``cuda`` (or ``auto`` on a GPU machine) becomes ``cuda:LOCAL_RANK``."""
    if team is None or device not in ("auto", "cuda") or not torch.cuda.is_available():
        return device
    count = torch.cuda.device_count()
    return f"cuda:{team.local_rank % count}"
