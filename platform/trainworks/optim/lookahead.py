"""Lookahead (Zhang, Lucas, Hinton & Ba, NeurIPS 2019): slow weights that follow any optimiser's fast ones."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator
from torch import nn

from trainworks.optim.optimizers import OPTIMIZERS
from trainworks.optim.nested import nested_choice
from trainworks.registry import Params

BaseOptimizerChoice = nested_choice(OPTIMIZERS, keep=lambda entry: True)


def lookahead_update(slow: torch.Tensor, fast: torch.Tensor, alpha: float) -> torch.Tensor:
    """The paper's slow-weight step: phi <- phi + alpha * (theta_k - phi), in place; returns phi."""
    return slow.add_(fast - slow, alpha=alpha)


class Lookahead(torch.optim.Optimizer):
    """Runs the base optimiser k times (fast weights), then moves the slow weights a share alpha towards
    them and restarts the fast weights from the slow ones.

    It shares the base's parameter groups, so schedules and loss scaling reach the base
    optimiser; its state_dict holds the base's state, the slow weights and the step count.
    """

    def __init__(self, base: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        super().__init__(base.param_groups, base.defaults)
        self.base, self.k, self.alpha = base, k, alpha
        self._share_base()
        self.fast_steps = 0
        self.slow = [p.detach().clone() for p in self._fast_weights()]

    def _share_base(self) -> None:
        """Point at the base's groups and state (the base replaces both when it loads a state dict)."""
        self.param_groups, self.state = self.base.param_groups, self.base.state

    def _fast_weights(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, closure=None):
        loss = self.base.step(closure)
        self.fast_steps += 1
        if self.fast_steps % self.k == 0:
            self._synchronise()
        return loss

    @torch.no_grad()
    def _synchronise(self) -> None:
        for slow, fast in zip(self.slow, self._fast_weights()):
            fast.copy_(lookahead_update(slow, fast, self.alpha))

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base.state_dict(), "slow": [t.clone() for t in self.slow], "fast_steps": self.fast_steps}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base.load_state_dict(state_dict["base"])
        self._share_base()
        with torch.no_grad():
            for slow, saved in zip(self.slow, state_dict["slow"]):
                slow.copy_(saved)
        self.fast_steps = int(state_dict["fast_steps"])


class LookaheadParams(Params):
    """How often the slow weights move, how far, and the optimiser that drives the fast weights."""

    k: int = Field(5, gt=0, description="fast steps between slow-weight updates")
    alpha: float = Field(0.5, gt=0.0, le=1.0, description="share of the way the slow weights move towards the fast")
    base: BaseOptimizerChoice = Field({"name": "adam"}, validate_default=True,  # type: ignore[valid-type]
                                      description="the optimiser that takes the fast steps, with its options")

    @model_validator(mode="after")
    def _first_order_base(self) -> LookaheadParams:
        if "closure" in OPTIMIZERS.get(self.base.name).tags:
            raise ValueError(f"lookahead cannot wrap {self.base.name}: it re-evaluates the loss through a closure "
                             "with its own line search; choose a first-order base such as adam or sgd")
        return self


@OPTIMIZERS.register("lookahead", LookaheadParams)
def build_lookahead(params: LookaheadParams, model: nn.Module) -> torch.optim.Optimizer:
    """Lookahead around any base optimiser: every k steps the slow weights move alpha of the way to the fast ones."""
    base = OPTIMIZERS.get(params.base.name).build(params.base, model)
    return Lookahead(base, params.k, params.alpha)
