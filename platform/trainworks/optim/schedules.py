"""Learning-rate schedules by name; each is driven by the loop after every optimiser step and every epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch.optim import lr_scheduler

from trainworks.registry import NoParams, Params, Registry

Interval = Literal["step", "epoch"]
Metric = Literal["val_loss", "val_accuracy", "val_rmse", "val_mae", "train_loss"]
Factor = Annotated[float, Field(gt=0.0, le=1.0, description="factor applied at each decay")]


@dataclass(frozen=True)
class Plan:
    """How long training runs, which some schedules need to know up front."""

    epochs: int
    steps_per_epoch: int
    steps_before: int = 0  # optimiser steps another schedule (a warm-up) takes before this one

    @property
    def total_steps(self) -> int:
        """Optimiser steps this schedule will see."""
        return max(1, self.epochs * self.steps_per_epoch - self.steps_before)


class Schedule:
    """A learning-rate schedule as the loop drives it; checkpoints hold its state_dict()."""

    def step_end(self) -> None:
        """After every optimiser step."""

    def epoch_end(self, metrics: dict[str, float]) -> None:
        """After every epoch's validation, with that epoch's metrics."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict() returned."""


@dataclass
class TorchSchedule(Schedule):
    """A torch scheduler, stepped per optimiser step or per epoch (then with a metric's value, if it reads one)."""

    scheduler: lr_scheduler.LRScheduler
    interval: Interval
    metric: str | None = None

    def step_end(self) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def epoch_end(self, metrics: dict[str, float]) -> None:
        if self.interval != "epoch":
            return
        if self.metric:
            self.scheduler.step(metric_value(metrics, self.metric))
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


def metric_value(metrics: dict[str, float], name: str) -> float:
    """The named metric of this epoch, or an error listing the ones the job does record."""
    if name not in metrics:
        raise KeyError(f"schedule.metric: this job records no '{name}'; it records {', '.join(sorted(metrics))}")
    return metrics[name]


ScheduleBuilder = Callable[[Params, torch.optim.Optimizer, Plan], Schedule]
SCHEDULES: Registry[ScheduleBuilder] = Registry("schedule")


@SCHEDULES.register("constant", NoParams)
def build_constant(params: NoParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Keep the optimiser's learning rate unchanged."""
    return TorchSchedule(lr_scheduler.LambdaLR(optimizer, lambda _: 1.0), "epoch")


class StepParams(Params):
    """Multiply the rate by gamma every step_size epochs."""

    step_size: Annotated[int, Field(gt=0)] = Field(description="epochs between decays")
    gamma: Factor = 0.1


@SCHEDULES.register("step", StepParams)
def build_step(params: StepParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Step decay: lr * gamma ** (epoch // step_size), once per step_size epochs (not every epoch)."""
    return TorchSchedule(lr_scheduler.StepLR(optimizer, params.step_size, params.gamma), "epoch")


class MultiStepParams(Params):
    """Multiply the rate by gamma at each milestone epoch."""

    milestones: list[Annotated[int, Field(gt=0)]] = Field(min_length=1, description="epochs after which the rate "
                                                                                     "drops, increasing")
    gamma: Factor = 0.1

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in zip(milestones, milestones[1:])):
            raise ValueError(f"milestones must increase strictly; got {milestones}")
        return milestones


@SCHEDULES.register("multistep", MultiStepParams)
def build_multistep(params: MultiStepParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Multi-step decay: the rate is multiplied by gamma after each milestone epoch, and only then."""
    return TorchSchedule(lr_scheduler.MultiStepLR(optimizer, params.milestones, params.gamma), "epoch")


class ExponentialParams(Params):
    """The per-epoch decay factor."""

    gamma: Factor = 0.95


@SCHEDULES.register("exponential", ExponentialParams)
def build_exponential(params: ExponentialParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Exponential decay per epoch: lr_{t+1} = lr_t * gamma, so lr_t = lr * gamma ** t."""
    return TorchSchedule(lr_scheduler.ExponentialLR(optimizer, params.gamma), "epoch")


class CosineParams(Params):
    """Where the cosine ends."""

    eta_min: float = Field(0.0, ge=0.0, description="final learning rate")


@SCHEDULES.register("cosine", CosineParams)
def build_cosine(params: CosineParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Cosine annealing from the base rate to eta_min over all training steps."""
    return TorchSchedule(lr_scheduler.CosineAnnealingLR(optimizer, plan.total_steps, params.eta_min), "step")


class OneCycleParams(Params):
    """Where the single cycle peaks, how high, and where it starts and ends."""

    max_lr: float | None = Field(None, gt=0.0, le=10.0, description="the peak rate; default: the optimiser's lr")
    pct_start: float = Field(0.3, gt=0.0, lt=1.0, description="share of the steps spent rising to the peak")
    div_factor: float = Field(25.0, ge=1.0, description="the start rate is max_lr / div_factor")
    final_div_factor: float = Field(1e4, ge=1.0, description="the final rate is the start rate / final_div_factor")
    anneal_strategy: Literal["cos", "linear"] = "cos"
    cycle_momentum: bool = Field(True, description="move momentum (or Adam's beta1) against the rate, where the "
                                                   "optimiser has momentum")


def has_momentum(optimizer: torch.optim.Optimizer) -> bool:
    """Adam-style betas, or SGD-style momentum that is switched on."""
    return "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0


@SCHEDULES.register("onecycle", OneCycleParams)
def build_onecycle(params: OneCycleParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """One-cycle (Smith 2018): rate rises to max_lr over pct_start of the steps, then anneals far below the start."""
    max_lr = params.max_lr or [group["lr"] for group in optimizer.param_groups]
    scheduler = lr_scheduler.OneCycleLR(
        optimizer, max_lr, total_steps=plan.total_steps, pct_start=params.pct_start, div_factor=params.div_factor,
        final_div_factor=params.final_div_factor, anneal_strategy=params.anneal_strategy,
        cycle_momentum=params.cycle_momentum and has_momentum(optimizer))
    return TorchSchedule(scheduler, "step")


class PlateauParams(Params):
    """Which validation metric to watch, which way is better, and how patient to be."""

    metric: Metric = Field("val_loss", description="epoch metric to watch")
    mode: Literal["min", "max"] = Field("min", description="min: lower is better (losses, errors); max: accuracy")
    factor: float = Field(0.1, gt=0.0, lt=1.0, description="multiply the rate by this on a plateau")
    patience: int = Field(10, ge=0, description="epochs without improvement tolerated before reducing")
    threshold: float = Field(1e-4, ge=0.0, description="relative change that counts as an improvement")
    cooldown: int = Field(0, ge=0, description="epochs to wait after a reduction before counting again")
    min_lr: float = Field(0.0, ge=0.0, description="the rate never goes below this")

    @model_validator(mode="after")
    def _accuracy_goes_up(self) -> PlateauParams:
        if self.metric == "val_accuracy" and self.mode == "min":
            raise ValueError("val_accuracy improves upwards: set mode: max")
        return self


@SCHEDULES.register("plateau", PlateauParams)
def build_plateau(params: PlateauParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Reduce-on-plateau: multiply the rate by factor after patience epochs without a better validation metric."""
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, params.mode, params.factor, params.patience,
                                               params.threshold, "rel", params.cooldown, params.min_lr)
    return TorchSchedule(scheduler, "epoch", params.metric)
