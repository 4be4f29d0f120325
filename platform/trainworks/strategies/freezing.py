"""Freezing layers without touching `requires_grad`: DDP keeps every parameter in its buckets, so unfreezing is safe."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from trainworks.engine.hooks import Hook

Frozen = Callable[[str], bool]


def drop_gradients(model: nn.Module, frozen: Frozen) -> None:
    """Clear the gradients of frozen parameters: every torch optimiser skips a parameter whose grad is None
    (no step, no weight decay, no momentum), so the parameter stays exactly as it is."""
    for name, parameter in model.named_parameters():
        if frozen(name):
            parameter.grad = None


def under_prefixes(prefixes: tuple[str, ...]) -> Frozen:
    """Parameters of the named modules (`features`, `classifier.0`): the layers a stage freezes."""
    return lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)


class Freeze(Hook):
    """Keeps the `frozen` parameters fixed up to and including epoch `until_epoch` (for ever if None)."""

    def __init__(self, frozen: Frozen, until_epoch: int | None = None) -> None:
        self.frozen, self.until_epoch, self.epoch = frozen, until_epoch, 1

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def on_before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if self.until_epoch is None or self.epoch <= self.until_epoch:
            drop_gradients(model, self.frozen)
