"""Mixup and CutMix: train on blends of two examples, with targets blended in the same proportion.

Both draw lambda ~ Beta(alpha, alpha) once per batch and pair each example with another
from a random permutation of the batch. Their randomness comes from torch's generator,
which the loop reseeds every epoch, so a resumed run draws the same blends.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.engine.hooks import Hook
from trainworks.registry import Params
from trainworks.tricks.registry import TRICKS, TrickContext

Box = tuple[int, int, int, int]  # top, bottom, left, right (bottom and right exclusive)


def soft_targets(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot rows for class ids; probability rows (already soft) pass through as float."""
    return F.one_hot(targets, num_classes).float() if targets.dim() == 1 else targets.float()


def mixup(x: torch.Tensor, targets: torch.Tensor, lam: float, partner: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """lam * (x, y) + (1 - lam) * (x, y)[partner]; `targets` are probability rows."""
    return lam * x + (1.0 - lam) * x[partner], lam * targets + (1.0 - lam) * targets[partner]


def cutmix(x: torch.Tensor, targets: torch.Tensor, box: Box, partner: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste the box of each partner image into the image; the partner's label weight is the box's area share."""
    top, bottom, left, right = box
    mixed = x.clone()
    mixed[..., top:bottom, left:right] = x[partner][..., top:bottom, left:right]
    pasted = (bottom - top) * (right - left) / (x.shape[-2] * x.shape[-1])
    return mixed, (1.0 - pasted) * targets + pasted * targets[partner]


def random_box(height: int, width: int, lam: float) -> Box:
    """A box covering about 1 - lam of the image at a uniform random centre, clipped to the image."""
    cut = math.sqrt(1.0 - lam)
    box_h, box_w = int(height * cut), int(width * cut)
    centre_y, centre_x = int(torch.randint(0, height, ())), int(torch.randint(0, width, ()))
    top, bottom = max(centre_y - box_h // 2, 0), min(centre_y + box_h // 2, height)
    left, right = max(centre_x - box_w // 2, 0), min(centre_x + box_w // 2, width)
    return top, bottom, left, right


def beta_sample(alpha: float) -> float:
    """lambda ~ Beta(alpha, alpha) from torch's (seeded) generator."""
    return float(torch.distributions.Beta(alpha, alpha).sample())


class MixParams(Params):
    """The Beta distribution lambda is drawn from."""

    alpha: float = Field(0.2, gt=0.0, description="Beta(alpha, alpha): small alpha keeps most blends near one example")


class Mixup(Hook):
    """Blends each training batch with a shuffled copy of itself; targets become probability rows."""

    def __init__(self, alpha: float, num_classes: int) -> None:
        self.alpha, self.num_classes = alpha, num_classes

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        partner = torch.randperm(len(x), device=x.device)
        return mixup(x, soft_targets(y, self.num_classes), beta_sample(self.alpha), partner)


class CutMix(Mixup):
    """Pastes a random box of a shuffled partner into each training image; targets weighted by pasted area."""

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        partner = torch.randperm(len(x), device=x.device)
        box = random_box(x.shape[-2], x.shape[-1], beta_sample(self.alpha))
        return cutmix(x, soft_targets(y, self.num_classes), box, partner)


@TRICKS.register("mixup", MixParams, tags=("classification",))
def build_mixup(params: MixParams, context: TrickContext) -> Hook:
    """Mixup: train on lam * (x1, y1) + (1 - lam) * (x2, y2) with lam ~ Beta(alpha, alpha)."""
    return Mixup(params.alpha, context.data.num_outputs)


@TRICKS.register("cutmix", MixParams, tags=("classification", "image"))
def build_cutmix(params: MixParams, context: TrickContext) -> Hook:
    """CutMix: paste a random box of another image; its label weighs the pasted area share."""
    return CutMix(params.alpha, context.data.num_outputs)
