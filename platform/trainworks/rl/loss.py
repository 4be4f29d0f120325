"""The policy-gradient (REINFORCE) loss, with returns normalised as a baseline and an entropy bonus."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field

from trainworks.data.types import DataInfo
from trainworks.losses import LOSSES
from trainworks.registry import Params
from trainworks.rl.returns import discounted_returns, normalise


class PolicyGradientParams(Params):
    """Discount, baseline and exploration settings of REINFORCE."""

    gamma: float = Field(0.99, gt=0.0, le=1.0, description="discount of future rewards")
    normalize: bool = Field(True, description="normalise returns over the batch (a baseline)")
    entropy: float = Field(0.0, ge=0.0, description="weight of the entropy bonus (encourages exploration)")


@dataclass(frozen=True)
class PolicyGradient:
    """-mean(log pi(a|s) * advantage) - entropy_weight * mean entropy."""

    gamma: float
    normalize: bool
    entropy: float

    def advantages(self, episode_rewards: list[list[float]]) -> torch.Tensor:
        """Discounted returns of every step of every episode, in order, normalised over the batch if asked."""
        returns = torch.cat([discounted_returns(rewards, self.gamma) for rewards in episode_rewards])
        return normalise(returns) if self.normalize else returns

    def __call__(self, logits: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
        log_probs = logits.float().log_softmax(dim=-1)
        chosen = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        entropy = -(log_probs.exp() * log_probs).sum(dim=-1).mean()
        return -(chosen * advantages).mean() - self.entropy * entropy


@LOSSES.register("policy_gradient", PolicyGradientParams, tags=("control",))
def build_policy_gradient(params: PolicyGradientParams, info: DataInfo) -> PolicyGradient:
    """REINFORCE: raise the log-probability of actions in proportion to the (normalised) return that followed."""
    return PolicyGradient(params.gamma, params.normalize, params.entropy)
