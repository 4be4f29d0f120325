"""Test-time augmentation: validation averages the model's outputs over an image and its mirror."""

from __future__ import annotations

import torch

from trainworks.engine.hooks import Hook
from trainworks.registry import NoParams
from trainworks.tricks.registry import TRICKS, TrickContext


def flip_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The batch and its left-right mirror (last axis of N,C,H,W)."""
    return [x, x.flip(-1)]


class FlipTTA(Hook):
    """Validation (and the final evaluation) sees each image twice; the loop averages the two outputs."""

    def eval_views(self, x: torch.Tensor) -> list[torch.Tensor]:
        return flip_views(x)


@TRICKS.register("tta", tags=("image",))
def tta(params: NoParams, context: TrickContext) -> Hook:
    """Test-time augmentation: average the outputs on each validation image and its horizontal flip."""
    return FlipTTA()
