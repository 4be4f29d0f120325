"""Where the loop's ranks live: one process, or a torch.distributed group set up by whoever runs it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class SingleProcess:
    """One rank, no communication: the `--inline` path and unit tests."""

    device: torch.device = torch.device("cpu")
    rank: int = 0
    world_size: int = 1

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def no_sync(self, model: nn.Module) -> ContextManager[None]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class TorchDistributed:
    """Ranks of an initialised torch.distributed process group (gloo on CPU, NCCL on GPU)."""

    device: torch.device
    rank: int
    world_size: int

    @classmethod
    def current(cls, device: torch.device) -> TorchDistributed:
        return cls(device, dist.get_rank(), dist.get_world_size())

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP: gradients are averaged across ranks during backward (a group of one needs no wrapper)."""
        if self.world_size == 1:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def no_sync(self, model: nn.Module) -> ContextManager[None]:
        """Skip the gradient all-reduce for micro-batches before the last one of a step."""
        return model.no_sync() if isinstance(model, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()


Distributed = SingleProcess | TorchDistributed


def unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside a DDP wrapper (what gets saved and logged)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
