"""What a supervised-style job learns and how validation scores it: classify, regress or reconstruct.

Each objective says which tensor the loss compares outputs against, and which sums a rank
collects over its share of the validation split; the sums are reduced across ranks before
they become metrics, so every metric covers the whole split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


def primary(outputs: Any) -> torch.Tensor:
    """The prediction among a model's outputs (a VAE returns (reconstruction, mu, logvar))."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


class Objective(Protocol):
    """The task-specific part of training and validation."""

    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...

    def sums(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor: ...

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]: ...

    def confusion(self, sums: torch.Tensor) -> torch.Tensor | None: ...


@dataclass(frozen=True)
class Classify:
    """Accuracy and the confusion matrix (true class by row, predicted by column)."""

    classes: int

    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y

    def sums(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        predicted = primary(outputs).argmax(dim=-1)
        confusion = torch.zeros(self.classes * self.classes, dtype=torch.float64, device=targets.device)
        confusion.index_add_(0, targets * self.classes + predicted,
                             torch.ones_like(targets, dtype=torch.float64))
        return confusion

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        return {"val_accuracy": sums.view(self.classes, self.classes).diagonal().sum().item() / count}

    def confusion(self, sums: torch.Tensor) -> torch.Tensor | None:
        return sums.view(self.classes, self.classes).long().cpu()


@dataclass(frozen=True)
class Regress:
    """Root mean squared and mean absolute error per predicted value."""

    outputs: int

    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y

    def sums(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        error = primary(outputs).float() - targets
        return torch.stack([error.pow(2).sum(), error.abs().sum()]).double()

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        values = count * self.outputs
        return {"val_rmse": (sums[0].item() / values) ** 0.5, "val_mae": sums[1].item() / values}

    def confusion(self, sums: torch.Tensor) -> torch.Tensor | None:
        return None


@dataclass(frozen=True)
class Reconstruct:
    """Autoencoders: the input is the target; mean squared reconstruction error per value."""

    values_per_example: int

    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x

    def sums(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        return (primary(outputs).float() - targets).pow(2).sum().double().view(1)

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        return {"val_mse": sums[0].item() / (count * self.values_per_example)}

    def confusion(self, sums: torch.Tensor) -> torch.Tensor | None:
        return None
