"""First-order optimisers by name; each builds its parameter groups from the model (decay skips biases and norms)."""

from __future__ import annotations

from typing import Annotated, Callable

import torch
from pydantic import Field, model_validator
from torch import nn

from trainworks.optim.param_groups import decay_groups
from trainworks.registry import Params, Registry

OptimizerBuilder = Callable[[Params, nn.Module], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")

LearningRate = Annotated[float, Field(gt=0.0, le=10.0, description="learning rate")]
WeightDecay = Annotated[float, Field(ge=0.0, lt=1.0, description="L2 penalty added to the gradient (coupled, as in "
                                                                  "torch); 0 turns it off")]
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]
Betas = tuple[Beta, Beta]
Epsilon = Annotated[float, Field(gt=0.0, le=1.0, description="added to denominators for numerical stability")]


class DecayParams(Params):
    """Every first-order optimiser's weight decay, and whether it reaches biases and norm layers."""

    weight_decay: WeightDecay = 0.0
    decay_biases_and_norms: bool = Field(False, description="also decay biases, 1-D parameters and norm-layer weights "
                                                            "(by default they are left alone)")


def groups_of(params: DecayParams, model: nn.Module) -> list[dict]:
    """The model's parameters split into a decayed group and an exempt one, as the params ask."""
    return decay_groups(model, params.weight_decay, params.decay_biases_and_norms)


class SGDParams(DecayParams):
    """Plain SGD; momentum and Nesterov are also reachable here (or by their own names)."""

    lr: LearningRate = 0.01
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="share of the previous update carried into this one")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0)")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDParams:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


@OPTIMIZERS.register("sgd", SGDParams)
def build_sgd(params: SGDParams, model: nn.Module) -> torch.optim.Optimizer:
    """Stochastic gradient descent, with optional (Nesterov) momentum."""
    return torch.optim.SGD(groups_of(params, model), lr=params.lr, momentum=params.momentum, nesterov=params.nesterov)


class MomentumParams(DecayParams):
    """SGD whose steps follow a running sum of gradients."""

    lr: LearningRate = 0.01
    momentum: float = Field(0.9, gt=0.0, lt=1.0, description="share of the previous update carried into this one")


@OPTIMIZERS.register("momentum", MomentumParams)
def build_momentum(params: MomentumParams, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with heavy-ball momentum (0.9 by default): damps oscillation across a valley, speeds travel along it."""
    return torch.optim.SGD(groups_of(params, model), lr=params.lr, momentum=params.momentum)


@OPTIMIZERS.register("nesterov", MomentumParams)
def build_nesterov(params: MomentumParams, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum (0.9 by default): the gradient is taken where momentum is carrying the weights."""
    return torch.optim.SGD(groups_of(params, model), lr=params.lr, momentum=params.momentum, nesterov=True)


class AdagradParams(DecayParams):
    """AdaGrad's rate and its accumulator."""

    lr: LearningRate = 0.01
    lr_decay: float = Field(0.0, ge=0.0, description="rate / (1 + (step - 1) * lr_decay)")
    initial_accumulator_value: float = Field(0.0, ge=0.0, description="starting sum of squared gradients")
    eps: Epsilon = 1e-10


@OPTIMIZERS.register("adagrad", AdagradParams)
def build_adagrad(params: AdagradParams, model: nn.Module) -> torch.optim.Optimizer:
    """AdaGrad: each parameter's rate shrinks with its summed squared gradients (rare features keep large steps)."""
    return torch.optim.Adagrad(groups_of(params, model), lr=params.lr, lr_decay=params.lr_decay,
                               initial_accumulator_value=params.initial_accumulator_value, eps=params.eps)


class RMSpropParams(DecayParams):
    """RMSProp's rate, averaging constant and optional momentum."""

    lr: LearningRate = 1e-3
    alpha: float = Field(0.99, gt=0.0, lt=1.0, description="decay of the running mean of squared gradients")
    eps: Epsilon = 1e-8
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    centered: bool = Field(False, description="divide by the gradient's estimated variance instead of its mean square")


@OPTIMIZERS.register("rmsprop", RMSpropParams)
def build_rmsprop(params: RMSpropParams, model: nn.Module) -> torch.optim.Optimizer:
    """RMSProp: divides each step by a running root-mean-square of recent gradients (AdaGrad that forgets)."""
    return torch.optim.RMSprop(groups_of(params, model), lr=params.lr, alpha=params.alpha, eps=params.eps,
                               momentum=params.momentum, centered=params.centered)


class AdamParams(DecayParams):
    """Adam's step size and moment decay rates."""

    lr: LearningRate = 1e-3
    betas: Betas = (0.9, 0.999)
    eps: Epsilon = 1e-8


@OPTIMIZERS.register("adam", AdamParams)
def build_adam(params: AdamParams, model: nn.Module) -> torch.optim.Optimizer:
    """Adam: per-parameter step sizes from running first and second gradient moments."""
    return torch.optim.Adam(groups_of(params, model), lr=params.lr, betas=params.betas, eps=params.eps)


class AdamWParams(AdamParams):
    """Adam with weight decay applied to the weights directly, not through the gradient."""

    weight_decay: float = Field(0.01, ge=0.0, lt=1.0, description="decoupled: each step multiplies decayed weights by "
                                                                   "(1 - lr * weight_decay)")


@OPTIMIZERS.register("adamw", AdamWParams)
def build_adamw(params: AdamWParams, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019), not on biases and norms by default."""
    return torch.optim.AdamW(groups_of(params, model), lr=params.lr, betas=params.betas, eps=params.eps)


class RAdamParams(AdamParams):
    """RAdam's settings; decay may be coupled (L2) or decoupled (AdamW-style)."""

    decoupled_weight_decay: bool = Field(False, description="apply weight_decay to the weights as AdamW does")


@OPTIMIZERS.register("radam", RAdamParams)
def build_radam(params: RAdamParams, model: nn.Module) -> torch.optim.Optimizer:
    """RAdam: Adam whose adaptive rate switches on only once its variance estimate is reliable (no warm-up needed)."""
    return torch.optim.RAdam(groups_of(params, model), lr=params.lr, betas=params.betas, eps=params.eps,
                             decoupled_weight_decay=params.decoupled_weight_decay)
