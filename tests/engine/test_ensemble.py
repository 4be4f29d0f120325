"""Combining members: mean probabilities, majority vote with probability tie-break, mean of regressors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainworks.engine.ensemble import EnsembleModel, scores


class Fixed(nn.Module):
    """A 'member' that ignores its input and answers fixed outputs."""

    def __init__(self, outputs: list[list[float]]) -> None:
        super().__init__()
        self.register_buffer("outputs", torch.tensor(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs


def test_mean_combines_the_members_probabilities() -> None:
    logits = [[[2.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 3.0]]]
    model = EnsembleModel([Fixed(row) for row in logits], "mean")
    expected = torch.tensor(logits).softmax(dim=-1).mean(dim=0)
    assert torch.allclose(model(torch.zeros(1)), expected)
    assert torch.allclose(model(torch.zeros(1)).sum(dim=-1), torch.ones(1))


def test_vote_follows_the_majority_even_against_a_confident_member() -> None:
    # two members mildly for class 1, one extremely sure of class 0: the mean picks 0, the vote picks 1
    logits = [[[0.0, 0.5]], [[0.0, 0.5]], [[20.0, 0.0]]]
    members = [Fixed(row) for row in logits]
    assert EnsembleModel(members, "mean")(torch.zeros(1)).argmax(dim=-1).item() == 0
    votes = EnsembleModel(members, "vote")(torch.zeros(1))
    assert votes.argmax(dim=-1).item() == 1
    assert votes[0, 1].item() == pytest.approx(2 / 3, abs=2e-3)


def test_a_tied_vote_goes_to_the_class_with_the_higher_mean_probability() -> None:
    logits = [[[3.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]]  # one vote each for classes 0 and 1
    assert EnsembleModel([Fixed(row) for row in logits], "vote")(torch.zeros(1)).argmax(dim=-1).item() == 0


def test_regressors_are_averaged() -> None:
    model = EnsembleModel([Fixed([[1.0], [4.0]]), Fixed([[3.0], [0.0]])], "mean", classify=False)
    assert torch.equal(model(torch.zeros(1)), torch.tensor([[2.0], [2.0]]))


def test_scores_read_logits_and_probabilities_alike() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    targets = torch.tensor([0, 1, 1])
    from_logits = scores(logits, targets, classify=True, probabilities=False)
    from_probabilities = scores(logits.softmax(dim=-1), targets, classify=True, probabilities=True)
    assert from_logits["val_accuracy"] == pytest.approx(2 / 3)
    assert from_logits["val_nll"] == pytest.approx(nn.functional.cross_entropy(logits, targets).item())
    assert from_probabilities == pytest.approx(from_logits)
    assert scores(torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [3.0]]), False, False) == pytest.approx(
        {"val_rmse": (0.5) ** 0.5, "val_mae": 0.5})
