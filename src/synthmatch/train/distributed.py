"""Data-parallel training across processes (torch.distributed), for ``torchrun``.

Started with ``torchrun --nproc_per_node N -m synthmatch train estimator ...``, every process
reads ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` from the environment, joins a process group (gloo
on CPU, NCCL on CUDA), trains every ``N``-th batch of the same epoch plan on a
``DistributedDataParallel`` copy of the model (gradients are averaged), and rank 0 alone
validates, writes metrics and checkpoints and exports. A single process (no ``WORLD_SIZE`` or
``WORLD_SIZE=1``) uses none of this.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: How long a process waits for the others at a barrier (rank 0 may build the dataset meanwhile).
BARRIER_TIMEOUT = datetime.timedelta(hours=12)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    device: str = "cpu"
    owned: bool = False  # this call started the process group (and ends it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_world(device: str) -> World:
    """Join the process group when ``WORLD_SIZE`` > 1 (CUDA devices become ``cuda:LOCAL_RANK``)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(device=device)
    import torch.distributed as dist

    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=BARRIER_TIMEOUT)
    return World(rank=dist.get_rank(), size=dist.get_world_size(), device=device, owned=owned)


def barrier(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()


def all_sum(world: World, values: Sequence[float]) -> list[float]:
    """Element-wise sums over all processes."""
    if world.size <= 1:
        return [float(v) for v in values]
    import torch.distributed as dist

    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def all_finite(world: World, loss: torch.Tensor) -> bool:
    """True when the loss is finite in every process (all skip a batch together, or none does)."""
    ok = float(torch.isfinite(loss.detach()).all())
    return all_sum(world, [ok])[0] == world.size


def wrap(model: nn.Module, world: World) -> nn.Module:
    """``DistributedDataParallel(model)`` when there are several processes, else ``model``."""
    if world.size <= 1:
        return model
    ids = [torch.device(world.device).index] if world.device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def close(world: World) -> None:
    if world.owned:
        import torch.distributed as dist

        dist.destroy_process_group()
