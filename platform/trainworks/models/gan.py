"""A DCGAN-style generator and discriminator, trained by the adversarial loop (engine/gan.py)."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from trainworks.data.types import DataInfo
from trainworks.models.registry import MODELS
from trainworks.registry import Params


class DCGANParams(Params):
    """Size of the latent code and of the networks."""

    latent: Annotated[int, Field(gt=0)] = Field(32, description="size of the noise vector z")
    width: Annotated[int, Field(gt=0)] = Field(32, description="channels of the widest convolution")


class Generator(nn.Module):
    """z -> dense -> 2 transposed convolutions (each doubling the size) -> tanh image in [-1, 1]."""

    def __init__(self, latent: int, width: int, channels: int, height: int, width_px: int) -> None:
        super().__init__()
        self.start = (2 * width, height // 4, width_px // 4)
        self.project = nn.Sequential(nn.Linear(latent, 2 * width * (height // 4) * (width_px // 4)),
                                     nn.BatchNorm1d(2 * width * (height // 4) * (width_px // 4)), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z).view(-1, *self.start))


class Discriminator(nn.Module):
    """Image -> 2 strided convolutions with LeakyReLU -> one real/fake logit (no batch norm, so real and
    generated images can share a batch)."""

    def __init__(self, width: int, channels: int, height: int, width_px: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * (height // 4) * (width_px // 4), 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).squeeze(-1)


class GAN(nn.Module):
    """Both networks in one module; calling it runs the generator (so the logged model generates from z)."""

    def __init__(self, generator: Generator, discriminator: Discriminator, latent: int) -> None:
        super().__init__()
        self.generator, self.discriminator, self.latent = generator, discriminator, latent

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


@MODELS.register("dcgan", DCGANParams, tags=("image", "gan"))
def build_dcgan(params: DCGANParams, info: DataInfo) -> nn.Module:
    """DCGAN-style generator and discriminator for images whose sides are multiples of 4 (scale to [-1, 1])."""
    channels, height, width_px = info.input_shape
    if height % 4 or width_px % 4:
        raise ValueError(f"dcgan needs image sides divisible by 4, got {height}x{width_px}: add a resize step")
    return GAN(Generator(params.latent, params.width, channels, height, width_px),
               Discriminator(params.width, channels, height, width_px), params.latent)
