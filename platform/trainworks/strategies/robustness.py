"""Robust accuracy: validation accuracy under a PGD attack, logged beside clean accuracy when a job asks for it."""

from __future__ import annotations

import torch
from torch import nn

from trainworks.engine.distributed import Distributed
from trainworks.engine.loop import Parts, Probe, batch_rows
from trainworks.engine.objectives import primary
from trainworks.strategies.attacks import PGDParams, pgd


def robust_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: PGDParams) -> int:
    """How many of the batch the model still classifies right after a PGD attack on each example."""
    attacked = pgd(model, x, y, attack.epsilon, attack.step(), attack.steps, attack.norm)
    with torch.no_grad():
        return int((primary(model.eval()(attacked)).argmax(dim=-1) == y).sum())


def robust_accuracy_probe(attack: PGDParams) -> Probe:
    """A loop probe giving `val_robust_accuracy` over the whole validation split (each rank attacks its share)."""

    def probe(model: nn.Module, parts: Parts, batch_size: int, dist: Distributed) -> dict[str, float]:
        model, split = parts.hooks.eval_model(model), parts.data.val
        rows = torch.arange(dist.rank, len(split), dist.world_size)
        correct = sum(robust_correct(model, *batch_rows(split, chunk, parts, dist.device), attack)
                      for chunk in rows.split(batch_size))
        totals = dist.all_reduce_sum(torch.tensor([correct, len(rows)], dtype=torch.float64, device=dist.device))
        return {"val_robust_accuracy": totals[0].item() / max(totals[1].item(), 1.0)}

    return probe
