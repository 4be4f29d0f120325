"""Losses on logits and values: cross-entropy, focal, binary cross-entropy, mean squared error."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.data.types import DataInfo
from trainworks.losses.registry import LOSSES, Loss
from trainworks.registry import NoParams, Params


class CrossEntropyParams(Params):
    """Label smoothing spreads this much probability mass over all classes."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


@LOSSES.register("cross_entropy", CrossEntropyParams, tags=("classification",))
def build_cross_entropy(params: CrossEntropyParams, info: DataInfo) -> Loss:
    """Cross-entropy on logits, with optional label smoothing; targets are class ids or probabilities."""

    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), targets, label_smoothing=params.label_smoothing)

    return loss


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float,
               alpha: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of -alpha_t * (1 - p_t) ** gamma * log p_t over examples (Lin et al. 2017), softmax over classes.

    Class-id targets pick p_t; probability targets (label smoothing, mixup) weight every
    class's term by its probability. With gamma 0 and no alpha the weights are exactly 1,
    and this is torch's cross-entropy computed the same way (log-softmax, then NLL).
    """
    log_probs = logits.float().log_softmax(-1)
    weighted = (1.0 - log_probs.exp()).pow(gamma) * log_probs
    if alpha is not None:
        weighted = weighted * alpha.to(weighted.device)
    if targets.dim() == logits.dim() - 1:
        return F.nll_loss(weighted, targets)
    return -(targets.float() * weighted).sum(-1).mean()


class FocalParams(Params):
    """How strongly easy examples are down-weighted, and optional per-class weights."""

    gamma: float = Field(2.0, ge=0.0, le=10.0, description="focusing exponent; 0 gives plain cross-entropy")
    alpha: list[float] | None = Field(None, min_length=1, description="one weight per class (alpha_t), e.g. inverse "
                                                                      "class frequencies; none: all 1")


@LOSSES.register("focal", FocalParams, tags=("classification",))
def build_focal(params: FocalParams, info: DataInfo) -> Loss:
    """Focal loss: cross-entropy scaled by (1 - p_t) ** gamma, so well-classified examples count less."""
    alpha = None
    if params.alpha is not None:
        if len(params.alpha) != info.num_outputs:
            raise ValueError(f"loss.alpha: {len(params.alpha)} weights for {info.num_outputs} classes; "
                             "give one per class")
        alpha = torch.tensor(params.alpha, dtype=torch.float32)

    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, targets, params.gamma, alpha)

    return loss


def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean of -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] over every logit z, for the shapes bce accepts:

    - logits (N,) or (N, 1), targets (N,) or (N, 1) in [0, 1]: one yes/no question (2 classes, one logit);
    - logits (N, C), targets (N, C) in [0, 1]: C independent yes/no labels (multi-label, soft targets, and
      reconstructions of inputs in [0, 1], any shape as long as both match);
    - logits (N, C), targets (N,) class ids: one-vs-rest, the id becomes a one-hot row (as timm's BCE option).
    """
    logits = logits.float()
    if logits.dim() == 2 and logits.shape[1] == 1 and targets.shape == logits.shape[:1]:
        logits = logits.squeeze(1)
    if targets.shape == logits.shape:
        return F.binary_cross_entropy_with_logits(logits, targets.float())
    if targets.dim() == logits.dim() - 1 and not targets.is_floating_point():
        return F.binary_cross_entropy_with_logits(logits, F.one_hot(targets, logits.shape[-1]).float())
    raise ValueError(f"bce: logits {tuple(logits.shape)} and targets {tuple(targets.shape)} do not fit; expected "
                     "matching shapes, (N, 1) logits with (N,) targets, or (N, C) logits with (N,) class ids")


@LOSSES.register("bce", NoParams, tags=("classification", "reconstruction"))
def build_bce(params: NoParams, info: DataInfo) -> Loss:
    """Binary cross-entropy on logits: one logit for 2 classes, one per label (multi-label), or one-vs-rest ids."""
    return binary_cross_entropy


@LOSSES.register("mse", NoParams, tags=("classification", "regression", "reconstruction"))
def build_mse(params: NoParams, info: DataInfo) -> Loss:
    """Mean squared error; for classifiers, between softmax probabilities and one-hot targets (Brier score)."""

    def regression(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs.float(), targets.float())

    def classification(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(targets, logits.shape[-1]).float() if targets.dim() == 1 else targets.float()
        return F.mse_loss(logits.float().softmax(-1), one_hot)

    return classification if info.task == "classification" else regression
