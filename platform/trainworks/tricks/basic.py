"""Tricks every job can switch on from its training and data sections."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from trainworks.data.augment import Augmentation
from trainworks.engine.hooks import Hook


class Augment(Hook):
    """Applies the data section's augmentations to training batches only."""

    def __init__(self, augmentations: Sequence[Augmentation]) -> None:
        self.augmentations = list(augmentations)

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for augment in self.augmentations:
            x = augment(x)
        return x, y


class ClipGradNorm(Hook):
    """Rescales gradients so their global L2 norm is at most `max_norm`, before every optimiser step."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def on_before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_norm)
