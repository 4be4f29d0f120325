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


def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Each image turned counter-clockwise by its angle about its centre (bilinear); corners fill with 0."""
    n, _, h, w = images.shape
    radians = degrees.to(images.dtype) * (torch.pi / 180.0)
    cos, sin = radians.cos(), radians.sin()
    zero = torch.zeros_like(cos)
    # output -> input sampling in normalised coordinates; h/w factors keep non-square images undistorted
    theta = torch.stack([torch.stack([cos, -sin * h / w, zero], dim=1),
                         torch.stack([sin * w / h, cos, zero], dim=1)], dim=1)
    grid = F.affine_grid(theta, [n, images.shape[1], h, w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class RotationParams(Params):
    """The largest angle either way."""

    degrees: Annotated[float, Field(gt=0.0, le=180.0)] = Field(
        15.0, description="angles drawn from [-degrees, degrees]")


@AUGMENTATIONS.register("rotation", RotationParams, tags=("image",))
def rotation(params: RotationParams) -> Augmentation:
    """Rotate each image by a random angle within [-degrees, degrees]; uncovered corners become 0."""

    def apply(images: torch.Tensor) -> torch.Tensor:
        angles = (torch.rand(images.shape[0], device=images.device) * 2 - 1) * params.degrees
        return rotate(images, angles)

    return apply


def per_image(values: torch.Tensor) -> torch.Tensor:
    """A value per image, shaped to broadcast over N,C,H,W."""
    return values.view(-1, 1, 1, 1)


def adjust_brightness(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Every pixel of image i raised by shift[i] (works the same on normalised images)."""
    return images + per_image(shift).to(images.dtype)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each channel's distance from its own mean scaled by factor[i]; the image's channel means stay put."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    return mean + (images - mean) * per_image(factor).to(images.dtype)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each pixel's distance from its grey (the mean over channels) scaled by factor[i]; a 1-channel image is grey."""
    grey = images.mean(dim=1, keepdim=True)
    return grey + (images - grey) * per_image(factor).to(images.dtype)


NonNegative = Annotated[float, Field(ge=0.0)]


class ColorJitterParams(Params):
    """How far brightness, contrast and saturation may move; 0 leaves that one alone."""

    brightness: NonNegative = Field(0.2, description="shift drawn from [-b, b], in the images' units")
    contrast: NonNegative = Field(0.2, description="factor drawn from [1-c, 1+c] (not below 0)")
    saturation: NonNegative = Field(0.2, description="factor drawn from [1-s, 1+s] (not below 0); no effect on "
                                                     "1-channel images")
    clip: tuple[float, float] | None = Field(None, description="clamp results to [low, high], e.g. [0, 1] for "
                                                               "images that were not normalised")


@AUGMENTATIONS.register("color_jitter", ColorJitterParams, tags=("image",))
def color_jitter(params: ColorJitterParams) -> Augmentation:
    """Random brightness shift, then contrast and saturation factors per image (saturation skips grey images)."""

    def factors(n: int, spread: float, device: torch.device) -> torch.Tensor:
        low = max(0.0, 1.0 - spread)
        return low + torch.rand(n, device=device) * (1.0 + spread - low)

    def apply(images: torch.Tensor) -> torch.Tensor:
        n, device = images.shape[0], images.device
        if params.brightness:
            images = adjust_brightness(images, (torch.rand(n, device=device) * 2 - 1) * params.brightness)
        if params.contrast:
            images = adjust_contrast(images, factors(n, params.contrast, device))
        if params.saturation and images.shape[1] > 1:
            images = adjust_saturation(images, factors(n, params.saturation, device))
        return images.clamp(*params.clip) if params.clip else images

    return apply
