"""Autoencoders: a plain one and a variational one (VAE), trained to reconstruct their input."""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from trainworks.data.types import DataInfo
from trainworks.models.registry import MODELS
from trainworks.registry import Params

Width = Annotated[int, Field(gt=0)]


class AutoencoderParams(Params):
    """Sizes of the bottleneck and of the layers around it."""

    latent: Width = Field(16, description="size of the code")
    hidden: list[Width] = Field([128], description="encoder widths (the decoder mirrors them)")


def _stack(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(width_in, width_out))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Flattened input -> code -> reconstruction of the input's shape."""

    def __init__(self, shape: tuple[int, ...], params: AutoencoderParams) -> None:
        super().__init__()
        self.shape, size = shape, math.prod(shape)
        self.encoder = nn.Sequential(nn.Flatten(), _stack([size, *params.hidden, params.latent]), nn.ReLU())
        self.decoder = _stack([params.latent, *reversed(params.hidden), size])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)).view(-1, *self.shape)


@MODELS.register("autoencoder", AutoencoderParams, tags=("reconstruction",))
def build_autoencoder(params: AutoencoderParams, info: DataInfo) -> nn.Module:
    """Autoencoder: compress each input to a small code and reconstruct it (loss: mse)."""
    return Autoencoder(info.input_shape, params)


class VAE(nn.Module):
    """Encoder to (mu, logvar), a reparameterised sample, decoder back to the input's shape.

    forward returns (reconstruction, mu, logvar): the `vae` loss needs all three. In eval mode
    the code is mu, so a logged VAE reconstructs deterministically; `sample(n)` generates.
    """

    def __init__(self, shape: tuple[int, ...], params: AutoencoderParams) -> None:
        super().__init__()
        self.shape, self.latent, size = shape, params.latent, math.prod(shape)
        self.encoder = nn.Sequential(nn.Flatten(), _stack([size, *params.hidden]), nn.ReLU())
        self.to_stats = nn.Linear(params.hidden[-1] if params.hidden else size, 2 * params.latent)
        self.decoder = _stack([params.latent, *reversed(params.hidden), size])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=-1)
        code = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(code), mu, logvar

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code).view(-1, *self.shape)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """New examples decoded from codes drawn from the prior N(0, I)."""
        device = next(self.parameters()).device
        return self.decode(torch.randn(count, self.latent, generator=generator).to(device))


@MODELS.register("vae", AutoencoderParams, tags=("reconstruction",))
def build_vae(params: AutoencoderParams, info: DataInfo) -> nn.Module:
    """Variational autoencoder: a Gaussian code per input, reconstruction + KL loss (loss: vae)."""
    return VAE(info.input_shape, params)
