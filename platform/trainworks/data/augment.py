"""Augmentations by name: random, batched image transforms applied to training batches only."""

from __future__ import annotations

from typing import Annotated, Callable

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.registry import Params, Registry

Augmentation = Callable[[torch.Tensor], torch.Tensor]
AUGMENTATIONS: Registry = Registry("augmentation")

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class FlipParams(Params):
    """How often to flip."""

    p: Probability = Field(0.5, description="probability that an image is mirrored")


@AUGMENTATIONS.register("hflip", FlipParams, tags=("image",))
def hflip(params: FlipParams) -> Augmentation:
    """Mirror each image left-right with probability p."""

    def apply(images: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(images.shape[0], device=images.device) < params.p
        return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)

    return apply


class CropParams(Params):
    """Padding around the image before cropping back to its size."""

    padding: Annotated[int, Field(gt=0, le=64)] = Field(4, description="pixels of zero padding on each side")


@AUGMENTATIONS.register("random_crop", CropParams, tags=("image",))
def random_crop(params: CropParams) -> Augmentation:
    """Pad with zeros, then crop a random window of the original size (a random shift per image)."""

    def apply(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        pad = params.padding
        padded = F.pad(images, (pad, pad, pad, pad))
        top = torch.randint(0, 2 * pad + 1, (n,), device=images.device)
        left = torch.randint(0, 2 * pad + 1, (n,), device=images.device)
        rows = (top.view(n, 1) + torch.arange(h, device=images.device)).view(n, 1, h, 1)
        cols = (left.view(n, 1) + torch.arange(w, device=images.device)).view(n, 1, 1, w)
        batch = torch.arange(n, device=images.device).view(n, 1, 1, 1)
        channels = torch.arange(images.shape[1], device=images.device).view(1, -1, 1, 1)
        return padded[batch, channels, rows, cols]

    return apply
