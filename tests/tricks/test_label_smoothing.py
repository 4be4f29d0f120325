"""Label smoothing: the stated soft targets, on training batches only, selectable from the spec."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import JOBS, make_spec
from trainworks.engine.assemble import build_hooks
from trainworks.data.prepare import prepare_data
from trainworks.spec import SpecError, validate_spec
from trainworks.tricks.label_smoothing import smooth_labels


def test_smoothed_targets_are_the_stated_mixture_and_keep_the_cross_entropy_equivalence() -> None:
    targets = torch.tensor([0, 2, 1])
    soft = smooth_labels(targets, num_classes=4, alpha=0.2)
    assert torch.allclose(soft.sum(-1), torch.ones(3))
    assert torch.allclose(soft[0], torch.tensor([0.85, 0.05, 0.05, 0.05]))
    logits = torch.randn(3, 4)
    assert torch.allclose(F.cross_entropy(logits, soft), F.cross_entropy(logits, targets, label_smoothing=0.2))


def test_the_trick_changes_training_targets_only() -> None:
    spec = make_spec(tricks=[{"name": "label_smoothing", "alpha": 0.3}])
    data = prepare_data(spec.data, 0)
    hook = build_hooks(spec, data)[0]
    x, y = data.train.x[:4], data.train.y[:4]
    same_x, soft = hook.on_train_batch(x, y)
    assert same_x is x and soft.shape == (4, 10) and torch.allclose(soft.max(-1).values, torch.full((4,), 0.73))
    assert hook.eval_views(x) == [x]


def test_tricks_are_checked_against_the_job() -> None:
    with pytest.raises(SpecError, match=r"tricks\[0\].name: unknown trick 'label_smooth'"):
        make_spec(tricks=["label_smooth"])
    regression = {"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "body_mass_g",
                                       "task": "regression", "features": ["bill_length_mm"]},
                           "preprocessing": ["impute"]},
                  "model": "mlp", "loss": "mse", "training": {"epochs": 1}, "tricks": ["label_smoothing"]}
    with pytest.raises(SpecError, match=r"tricks\[0\].name: 'label_smoothing' needs classification; this job is "
                                        r"regression on tables"):
        validate_spec(regression, base_dir=JOBS)
