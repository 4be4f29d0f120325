"""Pure pieces of policy gradients: discounted returns and their normalisation."""

from __future__ import annotations

import torch


def discounted_returns(rewards: list[float], gamma: float) -> torch.Tensor:
    """G_t = r_t + gamma * G_{t+1}, computed backwards over one episode."""
    returns, running = [], 0.0
    for reward in reversed(rewards):
        running = reward + gamma * running
        returns.append(running)
    return torch.tensor(returns[::-1], dtype=torch.float32)


def normalise(values: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance (a baseline that lowers the gradient's variance); constant input gives zeros."""
    centred = values - values.mean()
    spread = values.std(unbiased=False)
    return centred / spread if spread > 1e-8 else centred
