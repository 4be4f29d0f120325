"""Early stopping: stop when a validation metric has not improved for `patience` epochs, keep the best weights."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from trainworks.engine.hooks import Hook
from trainworks.registry import Params
from trainworks.tricks.registry import TRICKS, TrickContext

Metric = Literal["val_loss", "val_accuracy", "val_rmse", "val_mae", "train_loss"]
Mode = Literal["min", "max"]
HIGHER_IS_BETTER = {"val_accuracy"}


def natural_mode(metric: str) -> Mode:
    """Accuracy improves upwards; losses and errors downwards."""
    return "max" if metric in HIGHER_IS_BETTER else "min"


def improves(value: float, best: float | None, mode: Mode, min_delta: float) -> bool:
    """True when `value` beats `best` by more than `min_delta` in the direction `mode` (the first value always does)."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStoppingParams(Params):
    """Which metric to watch, how much counts as better, and how long to wait."""

    metric: Metric = Field("val_loss", description="metric watched after each epoch's validation")
    mode: Mode | None = Field(None, description="min or max; unset: max for val_accuracy, min for losses and errors")
    patience: int = Field(3, ge=1, description="epochs without improvement before training stops")
    min_delta: float = Field(0.0, ge=0.0, description="smallest change that counts as an improvement")
    restore_best: bool = Field(True, description="end with the weights of the best epoch, not the last")


class EarlyStopping(Hook):
    """Counts epochs without improvement and keeps a copy of the best validated weights.

    The weights kept are the ones validation used: this hook notes the model that reaches
    it through eval_model, so when it is listed after ema or swa it keeps their averages.
    """

    def __init__(self, metric: str, mode: Mode, patience: int, min_delta: float, restore_best: bool) -> None:
        self.metric, self.mode, self.patience, self.min_delta = metric, mode, patience, min_delta
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_weights: dict[str, torch.Tensor] = {}
        self.validated: nn.Module | None = None

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.validated = model

    def eval_model(self, model: nn.Module) -> nn.Module:
        self.validated = model
        return model

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        value = metrics[self.metric]
        if improves(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            if self.restore_best and self.validated is not None:
                self.best_weights = {k: v.detach().clone() for k, v in self.validated.state_dict().items()}
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def on_fit_end(self, model: nn.Module) -> bool:
        if not (self.restore_best and self.best_weights):
            return False
        model.load_state_dict(self.best_weights)
        return True

    def state_dict(self) -> dict[str, Any]:
        if self.best is None:
            return {}
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]
        self.best_weights = state["best_weights"]


@TRICKS.register("early_stopping", EarlyStoppingParams)
def early_stopping(params: EarlyStoppingParams, context: TrickContext) -> Hook:
    """Early stopping: end training after `patience` epochs without improvement; restore the best weights."""
    mode = params.mode or natural_mode(params.metric)
    return EarlyStopping(params.metric, mode, params.patience, params.min_delta, params.restore_best)
