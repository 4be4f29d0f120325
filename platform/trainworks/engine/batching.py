"""Which examples each rank sees in each step: seeded, disjoint across ranks, the same for any world size."""

from __future__ import annotations

from typing import Iterator

import torch


def derive_seed(seed: int, *parts: int) -> int:
    """A seed for (seed, epoch, rank, ...) that differs for every combination and needs no saved RNG state."""
    value = seed & 0xFFFFFFFF
    for part in parts:
        value = (value * 1_000_003 + part + 0x9E3779B9) & 0x7FFFFFFF
    return value


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of the training split in `epoch`: every rank computes the same one."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, epoch)))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch; the last, smaller batch counts."""
    return -(-n // batch_size)


def rank_batches(order: torch.Tensor, batch_size: int, rank: int, world_size: int) -> Iterator[torch.Tensor]:
    """This rank's share of each global batch: every world_size-th example, starting at `rank`.

    A global batch is `batch_size` consecutive examples of `order`; ranks take disjoint,
    equal shares, so gradients averaged by DDP equal the whole batch's gradient. The last
    batch is trimmed to a multiple of world_size so that every rank steps the same number of times.
    """
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        usable = len(batch) - len(batch) % world_size
        if usable:
            yield batch[rank:usable:world_size]
