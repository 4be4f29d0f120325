"""Image steps: resize and per-channel normalisation of float N,C,H,W batches."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.data.preprocess import PREPROCESSING, ImageStep, State
from trainworks.registry import Params

Size = Annotated[int, Field(gt=0, le=4096)]


class ResizeParams(Params):
    """Target image size."""

    size: Size | tuple[Size, Size] = Field(description="pixels: one number for square, or [height, width]")


class Resize:
    """Bilinear resize (antialiased when shrinking); stateless."""

    def __init__(self, params: ResizeParams) -> None:
        size = params.size
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def fit(self, images: torch.Tensor) -> State:
        return {"size": list(self.size)}

    def apply(self, images: torch.Tensor, state: State) -> torch.Tensor:
        size = tuple(state["size"])
        if tuple(images.shape[-2:]) == size:
            return images
        antialias = images.shape[-2] > size[0] or images.shape[-1] > size[1]
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=antialias)


@PREPROCESSING.register("resize", ResizeParams, tags=("image",))
def resize(params: ResizeParams) -> ImageStep:
    """Resize images to a fixed height and width."""
    return Resize(params)


class NormalizeParams(Params):
    """Per-channel mean and std; measured on the training split when not given."""

    mean: list[float] | None = Field(None, description="one value per channel; fitted if unset")
    std: list[Annotated[float, Field(gt=0)]] | None = Field(None, description="one value per channel; fitted if unset")


class Normalize:
    """(x - mean) / std per channel."""

    def __init__(self, params: NormalizeParams) -> None:
        self.params = params

    def fit(self, images: torch.Tensor) -> State:
        channels = images.shape[1]
        mean = self.params.mean or images.mean(dim=(0, 2, 3)).tolist()
        std = self.params.std or images.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
        for label, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise ValueError(f"normalize {label} has {len(values)} values for {channels} channels")
        return {"mean": list(mean), "std": list(std)}

    def apply(self, images: torch.Tensor, state: State) -> torch.Tensor:
        shape = (1, -1, 1, 1)
        mean = torch.tensor(state["mean"], dtype=images.dtype, device=images.device).view(shape)
        std = torch.tensor(state["std"], dtype=images.dtype, device=images.device).view(shape)
        return (images - mean) / std


@PREPROCESSING.register("normalize", NormalizeParams, tags=("image",))
def normalize(params: NormalizeParams) -> ImageStep:
    """Normalize each channel to the given (or the training split's) mean and std."""
    return Normalize(params)
