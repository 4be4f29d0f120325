"""Mixup and CutMix: inputs and targets are the same convex combination; CutMix's label weight is the pasted area."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import JOBS, make_spec
from tests.tricks.common import trick_hook
from trainworks.spec import SpecError, validate_spec
from trainworks.tricks.mixing import cutmix, mixup


def test_mixup_blends_inputs_and_one_hot_targets_in_the_same_proportion() -> None:
    x, y = torch.randn(4, 3), F.one_hot(torch.tensor([0, 1, 2, 1]), 3).float()
    partner = torch.tensor([2, 0, 3, 1])
    mixed_x, mixed_y = mixup(x, y, 0.7, partner)
    assert torch.allclose(mixed_x, 0.7 * x + 0.3 * x[partner])
    assert torch.allclose(mixed_y[0], torch.tensor([0.7, 0.0, 0.3]))
    assert torch.allclose(mixed_y.sum(-1), torch.ones(4))


@pytest.mark.parametrize("seed", range(5))
def test_the_mixup_trick_uses_one_lambda_and_a_permutation_for_inputs_and_targets(seed: int) -> None:
    n = 8
    x, y = torch.eye(n), torch.tensor([0, 1, 2, 3, 4, 5, 6, 7]) % 5  # row i is the basis vector e_i
    torch.manual_seed(seed)
    mixed_x, mixed_y = trick_hook("mixup", alpha=0.4, info=info(5)).on_train_batch(x, y)
    diagonal = mixed_x.diagonal().clone()  # x_i = lam * e_i + (1 - lam) * e_partner(i); 1 if paired with itself
    lam = diagonal[diagonal < 1][0]
    assert torch.allclose(diagonal[diagonal < 1], lam) and 0.0 < float(lam) < 1.0
    partner = torch.where(mixed_x - torch.diag(diagonal) > 0, torch.arange(n), -1).max(dim=1).values
    partner = torch.where(partner < 0, torch.arange(n), partner)
    assert sorted(partner.tolist()) == list(range(n))
    one_hot = F.one_hot(y, 5).float()
    assert torch.allclose(mixed_y, lam * one_hot + (1 - lam) * one_hot[partner], atol=1e-6)


def info(classes: int):
    from trainworks.data.types import DataInfo

    return DataInfo("classification", "image", (1, 6, 6), classes)


def test_cutmix_label_weight_is_the_share_of_pixels_pasted_from_the_partner() -> None:
    x = torch.arange(1.0, 4.0).view(3, 1, 1, 1).expand(3, 1, 4, 5).clone()  # image i is the constant i + 1
    y = F.one_hot(torch.tensor([0, 1, 2]), 3).float()
    mixed_x, mixed_y = cutmix(x, y, (1, 3, 0, 3), torch.tensor([1, 2, 0]))
    assert int((mixed_x[0] == 2.0).sum()) == 6 and torch.allclose(mixed_y[0], torch.tensor([1 - 0.3, 0.3, 0.0]))


@pytest.mark.parametrize("seed", range(8))
def test_the_cutmix_trick_weights_each_label_by_its_pixel_share(seed: int) -> None:
    n, classes = 6, 6
    x = torch.arange(1.0, n + 1).view(n, 1, 1, 1).expand(n, 3, 6, 6).clone()
    torch.manual_seed(seed)
    mixed_x, mixed_y = trick_hook("cutmix", alpha=1.0, info=info(classes)).on_train_batch(x, torch.arange(n))
    for row in range(n):
        values, counts = mixed_x[row, 0].unique(return_counts=True)
        shares = torch.zeros(classes)
        shares[values.long() - 1] = counts.float() / 36
        assert torch.allclose(mixed_y[row], shares, atol=1e-6)  # label weight = pixel share, for every class
        assert torch.equal(mixed_x[row, 0], mixed_x[row, 2])  # the same box in every channel


def test_mixing_tricks_are_refused_where_they_cannot_apply() -> None:
    with pytest.raises(SpecError, match=r"tricks\[0\].alpha: expected a value greater than 0"):
        make_spec(tricks=[{"name": "mixup", "alpha": 0}])
    table = {"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "species"},
                      "preprocessing": ["impute", "one_hot", "standardize"]},
             "model": "mlp", "training": {"epochs": 1}, "tricks": ["mixup", "cutmix"]}
    with pytest.raises(SpecError, match=r"tricks\[1\].name: 'cutmix' needs classification on image") as caught:
        validate_spec(table, base_dir=JOBS)
    assert len(caught.value.issues) == 1  # mixup works on tables
