"""Losses by name: each builder sees the data's task and returns loss(outputs, targets) -> mean loss."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.data.types import DataInfo
from trainworks.registry import NoParams, Params, Registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossBuilder = Callable[[Params, DataInfo], Loss]
LOSSES: Registry[LossBuilder] = Registry("loss")


class CrossEntropyParams(Params):
    """Label smoothing spreads this much probability mass over all classes."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


@LOSSES.register("cross_entropy", CrossEntropyParams, tags=("classification",))
def build_cross_entropy(params: CrossEntropyParams, info: DataInfo) -> Loss:
    """Cross-entropy on logits, with optional label smoothing; targets are class ids or probabilities."""

    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), targets, label_smoothing=params.label_smoothing)

    return loss


@LOSSES.register("mse", NoParams, tags=("classification", "regression", "reconstruction"))
def build_mse(params: NoParams, info: DataInfo) -> Loss:
    """Mean squared error; for classifiers, between softmax probabilities and one-hot targets (Brier score)."""

    def regression(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs.float(), targets.float())

    def classification(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(targets, logits.shape[-1]).float() if targets.dim() == 1 else targets.float()
        return F.mse_loss(logits.float().softmax(-1), one_hot)

    return classification if info.task == "classification" else regression
