"""The variational autoencoder's loss: reconstruction plus beta times the KL divergence from the prior."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.data.types import DataInfo
from trainworks.losses.registry import LOSSES, Loss
from trainworks.registry import Params

VaeOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # reconstruction, mu, logvar


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per example, summed over latent dimensions:
    -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2) (Kingma & Welling 2014, appendix B)."""
    return -0.5 * (1 + logvar.float() - mu.float().pow(2) - logvar.float().exp()).flatten(1).sum(1)


def reconstruction_error(reconstruction: torch.Tensor, inputs: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example error summed over features: squared error, or cross-entropy of logits against inputs in [0, 1]."""
    target = inputs.float().reshape(reconstruction.shape)
    if kind == "mse":
        error = (reconstruction.float() - target).pow(2)
    else:
        error = F.binary_cross_entropy_with_logits(reconstruction.float(), target, reduction="none")
    return error.flatten(1).sum(1)


def vae_loss(outputs: VaeOutputs, inputs: torch.Tensor, reconstruction: str = "mse", beta: float = 1.0) -> torch.Tensor:
    """Mean over examples of reconstruction error + beta * KL: the negative ELBO when beta is 1."""
    decoded, mu, logvar = outputs
    return (reconstruction_error(decoded, inputs, reconstruction) + beta * gaussian_kl(mu, logvar)).mean()


class VaeParams(Params):
    """The reconstruction term and the weight of the KL term."""

    reconstruction: Literal["mse", "bce"] = Field(
        "mse", description="mse: squared error of the outputs; bce: outputs are logits of inputs in [0, 1]")
    beta: float = Field(1.0, ge=0.0, description="weight of the KL term (beta-VAE when above 1)")


@LOSSES.register("vae", VaeParams, tags=("reconstruction",))
def build_vae(params: VaeParams, info: DataInfo) -> Loss:
    """VAE loss: reconstruction (mse or bce) + beta * KL(q(z|x) || N(0, 1)); outputs: (reconstruction, mu, logvar)."""

    def loss(outputs: VaeOutputs, inputs: torch.Tensor) -> torch.Tensor:
        return vae_loss(outputs, inputs, params.reconstruction, params.beta)

    return loss
