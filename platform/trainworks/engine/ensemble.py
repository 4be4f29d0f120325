"""Combining trained members into one model: mean probabilities, majority vote, or mean values."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from trainworks.data.types import Split
from trainworks.engine.objectives import primary

TIE_BREAK = 1e-3  # vote shares step by 1/members; a tie goes to the class with the higher mean probability


class EnsembleModel(nn.Module):
    """Members' outputs combined into one prediction, so the ensemble logs, loads and predicts like any model.

    Classifiers give class scores whose argmax is the ensemble's class: mean softmax
    probabilities (`mean`) or vote shares (`vote`); regressors give the mean prediction.
    """

    def __init__(self, members: Sequence[nn.Module], combine: str = "mean", classify: bool = True) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.combine, self.classify = combine, classify

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([primary(member(x)).float() for member in self.members])
        if not self.classify:
            return outputs.mean(dim=0)
        probabilities = outputs.softmax(dim=-1).mean(dim=0)
        if self.combine == "mean":
            return probabilities
        votes = F.one_hot(outputs.argmax(dim=-1), outputs.shape[-1]).float().mean(dim=0)
        return votes + TIE_BREAK * probabilities


def predict_split(model: nn.Module, split: Split, transform=None, batch_size: int = 512) -> torch.Tensor:
    """The model's outputs for every row of a split, in order."""
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            x = split.x[start:start + batch_size]
            chunks.append(primary(model(x if transform is None else transform(x))).float())
    return torch.cat(chunks)


def scores(outputs: torch.Tensor, targets: torch.Tensor, classify: bool, probabilities: bool) -> dict[str, float]:
    """The comparable metrics: accuracy and NLL of classifiers (outputs are logits unless `probabilities`),
    RMSE and MAE of regressors."""
    if not classify:
        error = outputs - targets.float()
        return {"val_rmse": error.pow(2).mean().sqrt().item(), "val_mae": error.abs().mean().item()}
    log_p = outputs.clamp_min(1e-12).log() if probabilities else outputs.log_softmax(dim=-1)
    return {"val_accuracy": (outputs.argmax(dim=-1) == targets).float().mean().item(),
            "val_nll": F.nll_loss(log_p, targets).item()}
