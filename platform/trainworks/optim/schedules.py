"""Learning-rate schedules by name; each says whether it steps per optimiser step or per epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Callable, Literal

import torch
from pydantic import Field

from trainworks.registry import NoParams, Params, Registry

Interval = Literal["step", "epoch"]


@dataclass(frozen=True)
class Plan:
    """How long training runs, which schedules need to know up front."""

    epochs: int
    steps_per_epoch: int


@dataclass
class Schedule:
    """A torch scheduler and how often the loop should call its step()."""

    scheduler: torch.optim.lr_scheduler.LRScheduler
    interval: Interval


ScheduleBuilder = Callable[[Params, torch.optim.Optimizer, Plan], Schedule]
SCHEDULES: Registry[ScheduleBuilder] = Registry("schedule")


@SCHEDULES.register("constant", NoParams)
def build_constant(params: NoParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Keep the optimiser's learning rate unchanged."""
    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), "epoch")


class StepParams(Params):
    """Multiply the rate by gamma every step_size epochs."""

    step_size: Annotated[int, Field(gt=0)] = Field(description="epochs between decays")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="factor applied at each decay")


@SCHEDULES.register("step", StepParams)
def build_step(params: StepParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Step decay: lr * gamma ** (epoch // step_size), once per step_size epochs (not every epoch)."""
    return Schedule(torch.optim.lr_scheduler.StepLR(optimizer, params.step_size, params.gamma), "epoch")


class CosineParams(Params):
    """Where the cosine ends."""

    eta_min: float = Field(0.0, ge=0.0, description="final learning rate")


@SCHEDULES.register("cosine", CosineParams)
def build_cosine(params: CosineParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Cosine annealing from the base rate to eta_min over all training steps."""
    total = max(1, plan.epochs * plan.steps_per_epoch)
    return Schedule(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total, params.eta_min), "step")
