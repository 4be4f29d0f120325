"""Weight averages: an exponential moving average (EMA) of every step, or an equal-weight average of epochs (SWA).

Validation runs the averaged copy (eval_model); at the end of training the average is copied
into the model, so it is what gets checkpointed, evaluated and logged.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from pydantic import Field
from torch import nn
from torch.optim.swa_utils import update_bn

from trainworks.engine.hooks import Hook
from trainworks.registry import Params
from trainworks.tricks.registry import TRICKS, TrickContext


def model_tensors(model: nn.Module) -> list[torch.Tensor]:
    """Parameters then buffers, in an order any deep copy of the model shares."""
    return [*model.parameters(), *model.buffers()]


@torch.no_grad()
def blend_(average: Sequence[torch.Tensor], current: Sequence[torch.Tensor], weight: float) -> None:
    """average <- (1 - weight) * average + weight * current, in place; integer tensors (counters) are copied."""
    for avg, cur in zip(average, current, strict=True):
        if avg.is_floating_point():
            avg.lerp_(cur, weight)
        else:
            avg.copy_(cur)


def ema_decay(decay: float, updates: int, warmup: bool) -> float:
    """The decay of update number `updates` + 1: with warm-up min(decay, (1 + n) / (10 + n)), so early weights fade fast."""
    return min(decay, (1 + updates) / (10 + updates)) if warmup else decay


def has_batch_norm(model: nn.Module) -> bool:
    """Whether running statistics must be recomputed for averaged weights."""
    return any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())


class WeightAverage(Hook):
    """An averaged copy of the model: validation uses it, and it replaces the model's weights at the end."""

    def __init__(self) -> None:
        self.average: nn.Module | None = None
        self.updates = 0
        self.pending: dict[str, Any] | None = None

    def _copy_of(self, model: nn.Module) -> nn.Module:
        """The averaged copy, made on first use (after every on_fit_start, so it shares layout and compilation)."""
        if self.average is None:
            self.average = copy.deepcopy(model).requires_grad_(False)
            if self.pending is not None:
                self.average.load_state_dict(self.pending["average"])
                self.updates, self.pending = int(self.pending["updates"]), None
        return self.average

    def eval_model(self, model: nn.Module) -> nn.Module:
        return self.average if self.average is not None and self.updates else model

    def on_fit_end(self, model: nn.Module) -> bool:
        if self.average is None and self.pending is None:
            return False  # nothing was averaged (e.g. training ended before swa's start epoch)
        average = self._copy_of(model)
        model.load_state_dict(average.state_dict())
        return True

    def state_dict(self) -> dict[str, Any]:
        if self.average is None or not self.updates:
            return dict(self.pending or {})
        return {"average": self.average.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending, self.average, self.updates = state, None, 0


class ExponentialMovingAverage(WeightAverage):
    """After every optimiser step: average <- d * average + (1 - d) * weights (buffers too); the first step copies.

    Starting from the weights after step 1 (not the initial ones) follows torch's AveragedModel.
    """

    def __init__(self, decay: float, warmup: bool) -> None:
        super().__init__()
        self.decay, self.warmup = decay, warmup

    def on_step_end(self, model: nn.Module, step: int) -> None:
        average = self._copy_of(model)
        weight = 1.0 - ema_decay(self.decay, self.updates, self.warmup) if self.updates else 1.0
        blend_(model_tensors(average), model_tensors(model), weight)
        self.updates += 1


class StochasticWeightAverage(WeightAverage):
    """Equal-weight mean of the weights at the end of each epoch from `start_epoch` on.

    The snapshot of an epoch is taken when validation asks for the model (eval_model), so
    validation sees the average including that epoch. Models with batch normalisation get
    their running statistics recomputed for the averaged weights from (up to `bn_batches`)
    training batches of the latest epoch; on several ranks each rank uses its own batches.
    """

    def __init__(self, start_epoch: int, bn_batches: int) -> None:
        super().__init__()
        self.start_epoch, self.bn_batches = start_epoch, bn_batches
        self.epoch, self.trained, self.batch_norm = 0, False, False
        self.batches: list[torch.Tensor] = []

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.batch_norm = has_batch_norm(model)

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch, self.batches = epoch, []

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch_norm and self.epoch >= self.start_epoch and len(self.batches) < self.bn_batches:
            self.batches.append(x.detach())
        return x, y

    def on_step_end(self, model: nn.Module, step: int) -> None:
        self.trained = self.epoch >= self.start_epoch

    def eval_model(self, model: nn.Module) -> nn.Module:
        self._snapshot(model)
        return super().eval_model(model)

    def on_fit_end(self, model: nn.Module) -> bool:
        self._snapshot(model)
        return super().on_fit_end(model)

    def _snapshot(self, model: nn.Module) -> None:
        """Fold this epoch's final weights into the mean, once per epoch, then refresh batch-norm statistics."""
        if not self.trained:
            return
        average = self._copy_of(model)
        blend_(list(average.parameters()), list(model.parameters()), 1.0 / (self.updates + 1))
        blend_(list(average.buffers()), list(model.buffers()), 1.0)
        self.updates, self.trained = self.updates + 1, False
        if self.batch_norm and self.batches:
            update_bn(self.batches, average)


class EmaParams(Params):
    """How slowly the average forgets."""

    decay: float = Field(0.999, gt=0.0, lt=1.0, description="weight of the old average at each step")
    warmup: bool = Field(True, description="use min(decay, (1 + n) / (10 + n)) at update n, so short runs "
                                           "are not dominated by the initial weights")


@TRICKS.register("ema", EmaParams)
def ema(params: EmaParams, context: TrickContext) -> Hook:
    """EMA of weights after every step; validation and the final model use the average."""
    return ExponentialMovingAverage(params.decay, params.warmup)


class SwaParams(Params):
    """From which epoch to average, and how many batches refresh batch-norm statistics."""

    start_epoch: int | None = Field(None, ge=1, description="first epoch averaged; unset: the last quarter of "
                                                            "training.epochs (at least the last epoch)")
    bn_batches: int = Field(32, ge=1, description="training batches of the latest epoch used to recompute "
                                                  "batch-norm statistics of the averaged weights")


def default_swa_start(epochs: int) -> int:
    """The first epoch of the last quarter of training."""
    return epochs - max(1, epochs // 4) + 1


@TRICKS.register("swa", SwaParams)
def swa(params: SwaParams, context: TrickContext) -> Hook:
    """SWA: equal-weight average of each epoch's weights from start_epoch on, batch-norm statistics recomputed."""
    return StochasticWeightAverage(params.start_epoch or default_swa_start(context.epochs), params.bn_batches)
