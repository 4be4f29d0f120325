"""Small builders shared by the optimiser and schedule tests."""

from __future__ import annotations

import torch
from torch import nn

from trainworks.optim import OPTIMIZERS, SCHEDULES, Plan, Schedule
from trainworks.spec.components import entry_model


class Point(nn.Module):
    """A model that is just one weight matrix: the variable of a hand-computed objective."""

    def __init__(self, *values: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([list(values)]))


def build_optimizer(name: str, model: nn.Module, **params) -> torch.optim.Optimizer:
    """An optimiser from the registry, its params validated as a job spec's would be."""
    spec = entry_model(OPTIMIZERS.get(name)).model_validate({"name": name, **params})
    return OPTIMIZERS.get(name).build(spec, model)


def build_schedule(name: str, plan: tuple[int, int] = (50, 1), lr: float = 1.0, optimizer_name: str = "sgd",
                   **params) -> tuple[torch.optim.Optimizer, Schedule]:
    """An optimiser (SGD) at `lr` on a one-weight model, and the named schedule driving it over plan (epochs, steps)."""
    optimizer = build_optimizer(optimizer_name, Point(0.0), lr=lr)
    spec = entry_model(SCHEDULES.get(name)).model_validate({"name": name, **params})
    return optimizer, SCHEDULES.get(name).build(spec, optimizer, Plan(*plan))


def epoch_rates(optimizer: torch.optim.Optimizer, schedule: Schedule, epochs: int, steps_per_epoch: int = 1,
                metrics: list[dict[str, float]] | None = None) -> list[float]:
    """The rate of every optimiser step over `epochs`, driving the schedule as the loop does."""
    seen = []
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step_end()
        schedule.epoch_end(metrics[epoch] if metrics else {"val_loss": 1.0})
    return seen
