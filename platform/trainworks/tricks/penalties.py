"""L1 and L2 penalties as tricks: L = L0 + lambda * Omega(w), added to the loss before backward.

Omega covers the weights of linear and convolutional layers: parameters with two or more
dimensions. Biases and normalisation scales and shifts (one-dimensional) are not penalised,
as is usual: shrinking them regularises nothing and only shifts activations.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from pydantic import Field
from torch import nn

from trainworks.engine.hooks import Hook
from trainworks.registry import Params
from trainworks.tricks.registry import TRICKS, TrickContext

Penalty = Callable[[Iterable[torch.Tensor]], torch.Tensor]


def penalised_weights(model: nn.Module) -> list[torch.Tensor]:
    """The parameters a penalty applies to: weights of two or more dimensions (no biases, no norm parameters)."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def l1_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """Omega(w) = sum |w|: its gradient lambda * sign(w) pulls every weight toward zero at the same rate."""
    return torch.stack([w.abs().sum() for w in weights]).sum()


def l2_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """Omega(w) = sum w**2 (no 1/2): its gradient is 2 * lambda * w, shrinking large weights most."""
    return torch.stack([w.pow(2).sum() for w in weights]).sum()


class PenaltyParams(Params):
    """The penalty's weight in the loss."""

    strength: float = Field(1e-4, gt=0.0, description="lambda in L = L0 + lambda * Omega(w)")


class AddPenalty(Hook):
    """Adds lambda * Omega(weights) to every training loss (validation losses stay the plain data loss)."""

    def __init__(self, penalty: Penalty, strength: float) -> None:
        self.penalty, self.strength = penalty, strength

    def on_loss(self, loss: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return loss + self.strength * self.penalty(penalised_weights(model))


@TRICKS.register("l1", PenaltyParams)
def l1(params: PenaltyParams, context: TrickContext) -> Hook:
    """L1 penalty: loss + lambda * sum |w| over layer weights (not biases or norms); drives small weights to zero."""
    return AddPenalty(l1_penalty, params.strength)


@TRICKS.register("l2", PenaltyParams)
def l2(params: PenaltyParams, context: TrickContext) -> Hook:
    """L2 penalty: loss + lambda * sum w**2 over layer weights (not biases or norms); gradient 2 * lambda * w."""
    return AddPenalty(l2_penalty, params.strength)
