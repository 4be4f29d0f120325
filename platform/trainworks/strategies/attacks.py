"""FGSM and PGD: inputs moved within an epsilon ball to raise the loss (Goodfellow 2015; Madry et al. 2018).

Pure functions of a model and a batch: they read input gradients with `torch.autograd.grad`,
so parameter gradients (and DDP) never see them. The model runs in eval mode while attacked.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from trainworks.engine.objectives import primary
from trainworks.registry import Params

Norm = Literal["linf", "l2"]


class PGDParams(Params):
    """A projected-gradient attack: ball size and shape, step size and count."""

    epsilon: float = Field(gt=0.0, le=100.0, description="radius of the ball around each input (in its units)")
    norm: Norm = Field("linf", description="linf: each value moves at most epsilon; l2: the whole input does")
    steps: int = Field(10, gt=0, le=1000, description="gradient steps of PGD")
    step_size: float | None = Field(None, gt=0.0, description="size of each step; 2.5 * epsilon / steps if unset")

    def step(self) -> float:
        """Madry et al.'s default: enough to cross the ball and back."""
        return self.step_size or 2.5 * self.epsilon / self.steps


def _per_example(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def direction(gradient: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The steepest unit step under the norm: the gradient's sign (linf) or the gradient scaled to length 1 (l2)."""
    if norm == "linf":
        return gradient.sign()
    length = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)
    return gradient / _per_example(length, gradient)


def project(delta: torch.Tensor, epsilon: float, norm: Norm) -> torch.Tensor:
    """The nearest perturbation inside the epsilon ball."""
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    length = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * _per_example((epsilon / length).clamp(max=1.0), delta)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(cross-entropy)/d(input); y may be class ids or soft targets."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(primary(model(x)).float(), y)
    return torch.autograd.grad(loss, x)[0]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (no dropout, frozen batch-norm statistics) with gradients on, then the model's mode back."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            yield model
    finally:
        model.train(was_training)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, step_size: float, steps: int,
        norm: Norm = "linf", random_start: bool = True) -> torch.Tensor:
    """Projected gradient ascent on the loss from a random point of the ball; returns the attacked inputs."""
    delta = project(torch.empty_like(x).uniform_(-epsilon, epsilon), epsilon, norm) if random_start \
        else torch.zeros_like(x)
    with evaluating(model):
        for _ in range(steps):
            gradient = input_gradient(model, x + delta, y)
            delta = project(delta + step_size * direction(gradient, norm), epsilon, norm)
    return (x + delta).detach()


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float, step_size: float = 0.0,
         steps: int = 1, norm: Norm = "linf", random_start: bool = False) -> torch.Tensor:
    """One full step of epsilon along the gradient's direction (PGD with one step and no random start)."""
    return pgd(model, x, y, epsilon, epsilon, 1, norm, random_start=False)


Attack = Callable[..., torch.Tensor]
ATTACKS: dict[str, Attack] = {"fgsm": fgsm, "pgd": pgd}
