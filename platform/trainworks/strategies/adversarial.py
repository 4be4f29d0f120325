"""Adversarial training: part of every batch is replaced by FGSM or PGD examples of itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from torch import nn

from trainworks.data.types import DataBundle
from trainworks.engine.distributed import Distributed
from trainworks.engine.hooks import Hook
from trainworks.engine.loop import Parts
from trainworks.strategies.attacks import ATTACKS, Attack, PGDParams
from trainworks.strategies.registry import STRATEGIES, PartsStrategy, Strategy

if TYPE_CHECKING:
    from trainworks.spec.schema import JobSpec


class AdversarialParams(PGDParams):
    """The attack that makes training examples, and how much of each batch it replaces."""

    attack: Literal["fgsm", "pgd"] = Field("pgd", description="fgsm: one epsilon step; pgd: `steps` projected steps")
    ratio: float = Field(0.5, gt=0.0, le=1.0, description="share of each batch replaced by attacked examples")


def mix_adversarial(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack, params: AdversarialParams
                    ) -> torch.Tensor:
    """The batch with its first `ratio` share attacked (batches are shuffled, so the share is random)."""
    count = round(len(x) * params.ratio)
    if count == 0:
        return x
    attacked = attack(model, x[:count], y[:count], params.epsilon, params.step(), params.steps, params.norm)
    return torch.cat([attacked, x[count:]])


class AdversarialTraining(Hook):
    """Attacks the model being trained (unwrapped from DDP: its input gradients stay local to the rank)."""

    def __init__(self, params: AdversarialParams) -> None:
        self.params, self.attack = params, ATTACKS[params.attack]
        self.model: nn.Module | None = None

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.model is not None, "on_fit_start gives the model before any batch"
        return mix_adversarial(self.model, x, y, self.attack, self.params), y


@STRATEGIES.register("adversarial", AdversarialParams, tags=("classification",))
def adversarial(params: AdversarialParams) -> Strategy:
    """Adversarial training: FGSM or PGD examples mixed with clean ones at a ratio (robust to small perturbations)."""

    def adapt(spec: JobSpec, data: DataBundle, parts: Parts, dist: Distributed) -> None:
        parts.hooks.hooks.append(AdversarialTraining(params))  # after augmentation and mixing: attack what trains

    return PartsStrategy(adapt)
