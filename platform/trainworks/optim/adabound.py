"""AdaBound (Luo, Xiong, Liu & Sun, ICLR 2019): Adam whose per-parameter rates are squeezed towards SGD's."""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from trainworks.optim.optimizers import OPTIMIZERS, AdamParams, groups_of


def rate_bounds(final_lr: float, gamma: float, step: int) -> tuple[float, float]:
    """The paper's bounds at step t (from 1): final_lr * (1 - 1/(gamma*t + 1)) and final_lr * (1 + 1/(gamma*t)).

    The lower bound starts at 0 and the upper at infinity (Adam), and both close in on
    `final_lr` (SGD) as t grows; `gamma` sets how fast.
    """
    return final_lr * (1 - 1 / (gamma * step + 1)), final_lr * (1 + 1 / (gamma * step))


class AdaBound(torch.optim.Optimizer):
    """Adam whose per-parameter step size is clipped into [lower(t), upper(t)] (the authors' reference update).

    Per parameter: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    rate = clip(lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps), lower(t), upper(t));
    theta -= rate * m. The paper's analysis also divides the rate by sqrt(t); its reference
    code (github.com/Luolc/AdaBound) does not, and neither does this. A schedule that lowers
    lr lowers final_lr in proportion (final_lr * lr / initial lr), as in the reference code.
    Weight decay is coupled (added to the gradient), as in the paper.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), final_lr: float = 0.1,
                 gamma: float = 1e-3, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        defaults = {"lr": lr, "betas": betas, "final_lr": final_lr, "gamma": gamma, "eps": eps,
                    "weight_decay": weight_decay}
        super().__init__(params, defaults)
        for group in self.param_groups:
            group.setdefault("start_lr", group["lr"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    self._update(parameter, group)
        return loss

    def _update(self, parameter: torch.Tensor, group: dict) -> None:
        grad = parameter.grad
        if group["weight_decay"]:
            grad = grad.add(parameter, alpha=group["weight_decay"])
        state = self.state[parameter]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(parameter), exp_avg_sq=torch.zeros_like(parameter))
        state["step"] += 1
        step, (beta1, beta2) = state["step"], group["betas"]
        state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        adam_rate = group["lr"] * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
        final_lr = group["final_lr"] * group["lr"] / group["start_lr"]
        lower, upper = rate_bounds(final_lr, group["gamma"], step)
        rate = (adam_rate / (state["exp_avg_sq"].sqrt() + group["eps"])).clamp_(lower, upper)
        parameter.sub_(rate * state["exp_avg"])


class AdaBoundParams(AdamParams):
    """AdaBound's rate, the SGD rate it converges to, and how fast its bounds close."""

    final_lr: float = Field(0.1, gt=0.0, le=10.0, description="the SGD-like rate both bounds converge to")
    gamma: float = Field(1e-3, gt=0.0, le=1.0, description="convergence speed of the bounds")


@OPTIMIZERS.register("adabound", AdaBoundParams)
def build_adabound(params: AdaBoundParams, model: nn.Module) -> torch.optim.Optimizer:
    """AdaBound: Adam with per-parameter steps clipped into bounds that converge to final_lr (Adam early, SGD late)."""
    return AdaBound(groups_of(params, model), lr=params.lr, betas=params.betas, final_lr=params.final_lr,
                    gamma=params.gamma, eps=params.eps)
