"""Optimisers by name; every one takes a learning rate and weight decay."""

from __future__ import annotations

from typing import Annotated, Callable, Iterable

import torch
from pydantic import Field

from trainworks.registry import Params, Registry

ParamGroups = Iterable[torch.nn.Parameter] | Iterable[dict]
OptimizerBuilder = Callable[[Params, ParamGroups], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")

LearningRate = Annotated[float, Field(gt=0.0, le=10.0, description="learning rate")]
WeightDecay = Annotated[float, Field(ge=0.0, lt=1.0, description="L2 weight decay (coupled, as in torch)")]


class SGDParams(Params):
    """Plain, momentum or Nesterov SGD."""

    lr: LearningRate = 0.01
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: WeightDecay = 0.0


@OPTIMIZERS.register("sgd", SGDParams)
def build_sgd(params: SGDParams, groups: ParamGroups) -> torch.optim.Optimizer:
    """Stochastic gradient descent, with optional (Nesterov) momentum."""
    if params.nesterov and params.momentum == 0:
        raise ValueError("nesterov needs momentum > 0")
    return torch.optim.SGD(groups, lr=params.lr, momentum=params.momentum, nesterov=params.nesterov,
                           weight_decay=params.weight_decay)


class AdamParams(Params):
    """Adam's step size and moment decay rates."""

    lr: LearningRate = 1e-3
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: WeightDecay = 0.0


@OPTIMIZERS.register("adam", AdamParams)
def build_adam(params: AdamParams, groups: ParamGroups) -> torch.optim.Optimizer:
    """Adam: per-parameter step sizes from running first and second gradient moments."""
    return torch.optim.Adam(groups, lr=params.lr, betas=params.betas, eps=params.eps,
                            weight_decay=params.weight_decay)
