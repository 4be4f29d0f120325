"""Adversarial losses: each entry gives the discriminator's and the generator's loss on discriminator logits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.data.types import DataInfo
from trainworks.losses.registry import LOSSES
from trainworks.registry import NoParams, Params

GAN_TAGS = ("generation", "gan")


@dataclass(frozen=True)
class GanLoss:
    """The two sides of an adversarial loss; a GAN loop steps each network on its own side."""

    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real_logits, fake_logits) -> loss
    generator: Callable[[torch.Tensor], torch.Tensor]                    # fake_logits -> loss


def bce_discriminator(real: torch.Tensor, fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), with D = sigmoid(logits); real_label < 1 is one-sided label smoothing."""
    real, fake = real.float(), fake.float()
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_label))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def bce_generator(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating: -log D(G(z)) = softplus(-logits), which keeps its gradient when D rejects the fakes."""
    return F.softplus(-fake.float()).mean()


def hinge_discriminator(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """mean(relu(1 - real)) + mean(relu(1 + fake)): only samples inside the margin count."""
    return F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()


def critic_generator(fake: torch.Tensor) -> torch.Tensor:
    """-mean(fake logits): raise the critic's score of the fakes (hinge and Wasserstein generators)."""
    return -fake.float().mean()


def wasserstein_critic(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """mean(fake) - mean(real): the critic's estimate of the Wasserstein-1 distance, negated."""
    return fake.float().mean() - real.float().mean()


class GanBceParams(Params):
    """The target for real samples (below 1: one-sided label smoothing, Salimans et al. 2016)."""

    real_label: float = Field(1.0, gt=0.5, le=1.0, description="discriminator target for real samples")


@LOSSES.register("gan_bce", GanBceParams, tags=GAN_TAGS)
def build_gan_bce(params: GanBceParams, info: DataInfo) -> GanLoss:
    """GAN with binary cross-entropy (Goodfellow et al. 2014), non-saturating generator loss -log D(G(z))."""
    return GanLoss(lambda real, fake: bce_discriminator(real, fake, params.real_label), bce_generator)


@LOSSES.register("gan_hinge", NoParams, tags=GAN_TAGS)
def build_gan_hinge(params: NoParams, info: DataInfo) -> GanLoss:
    """Hinge GAN loss (Lim & Ye 2017; SAGAN, BigGAN): margin loss for the discriminator, -D(G(z)) for the generator."""
    return GanLoss(hinge_discriminator, critic_generator)


@LOSSES.register("gan_wasserstein", NoParams, tags=GAN_TAGS)
def build_gan_wasserstein(params: NoParams, info: DataInfo) -> GanLoss:
    """Wasserstein GAN loss (Arjovsky et al. 2017); the critic must be kept Lipschitz (clipping or spectral norm)."""
    return GanLoss(wasserstein_critic, critic_generator)
