"""Label smoothing as a trick: hard class ids become soft targets before the loss sees them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.engine.hooks import Hook
from trainworks.registry import Params
from trainworks.tricks.registry import TRICKS, TrickContext


def smooth_labels(targets: torch.Tensor, num_classes: int, alpha: float) -> torch.Tensor:
    """(1 - alpha) on the true class plus alpha / num_classes everywhere; soft targets are smoothed alike."""
    hard = F.one_hot(targets, num_classes).float() if targets.dim() == 1 else targets.float()
    return hard * (1.0 - alpha) + alpha / num_classes


class LabelSmoothingParams(Params):
    """How much probability mass to spread over all classes."""

    alpha: float = Field(0.1, gt=0.0, lt=1.0)


class LabelSmoothing(Hook):
    """Replaces training targets by smoothed ones; validation keeps the hard labels."""

    def __init__(self, alpha: float, num_classes: int) -> None:
        self.alpha, self.num_classes = alpha, num_classes

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, smooth_labels(y, self.num_classes, self.alpha)


@TRICKS.register("label_smoothing", LabelSmoothingParams, tags=("classification",))
def label_smoothing(params: LabelSmoothingParams, context: TrickContext) -> Hook:
    """Label smoothing: train on (1 - alpha) * one-hot + alpha / classes instead of hard labels."""
    return LabelSmoothing(params.alpha, context.data.num_outputs)
