"""Adversarial training and robust accuracy: attacks stay in their ball, raise the loss, and training resists them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import make_spec
from tests.runtime.test_job_inline import inline, quiet
from trainworks.runtime.job import run_job
from trainworks.strategies.attacks import fgsm, pgd, project

ATTACK = {"epsilon": 0.15, "steps": 5, "norm": "linf"}


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 3))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_keeps_perturbations_in_the_ball(norm: str) -> None:
    delta = project(torch.randn(16, 8) * 3, 0.5, norm)
    size = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= 0.5 + 1e-6).all() and size.max() == pytest.approx(0.5, abs=1e-5)


def test_fgsm_moves_every_value_by_epsilon_against_the_model() -> None:
    model, x, y = linear_model(), torch.randn(32, 8), torch.randint(0, 3, (32,))
    attacked = fgsm(model, x, y, 0.1)
    assert torch.allclose((attacked - x).abs(), torch.full_like(x, 0.1))
    assert F.cross_entropy(model(attacked), y) > F.cross_entropy(model(x), y)


def test_pgd_raises_the_loss_more_than_fgsm_and_keeps_the_model_mode() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 3)).train()
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    torch.manual_seed(1)
    strong, weak = pgd(model, x, y, 0.3, 0.1, 10, "l2"), fgsm(model, x, y, 0.3, norm="l2")
    assert model.training and all(p.grad is None for p in model.parameters())  # input gradients only
    model.eval()
    with torch.no_grad():
        clean, one_step, many = (F.cross_entropy(model(v), y).item() for v in (x, weak, strong))
    assert clean < one_step < many and (strong - x).norm(dim=1).max() <= 0.3 + 1e-5


def digits_mlp(**sections) -> dict:
    return {"name": "robust-digits", "data": {"dataset": "digits"}, "model": {"name": "mlp", "hidden": [64]},
            "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": 8, "batch_size": 64},
            "evaluation": {"robust_accuracy": ATTACK}, "tracking": {"experiment": "tests", "log_model": False},
            **sections}


def test_adversarial_training_is_clearly_more_robust_and_both_runs_log_robust_accuracy(tracker) -> None:
    standard = run_job(make_spec(digits_mlp()), inline(), tracker, quiet())
    adversarial = {"name": "adversarial", "attack": "pgd", "ratio": 0.5, **ATTACK}
    robust = run_job(make_spec(digits_mlp(strategy=adversarial)), inline(), tracker, quiet())
    for summary in (standard, robust):
        points = tracker.client.get_metric_history(summary.run_id, "val_robust_accuracy")
        assert sorted(point.step for point in points) == list(range(1, 9))
        assert summary.metrics["val_robust_accuracy"] < summary.metrics["val_accuracy"]
    assert robust.metrics["val_robust_accuracy"] > standard.metrics["val_robust_accuracy"] + 0.2, \
        (robust.metrics, standard.metrics)
    assert robust.metrics["val_accuracy"] > 0.85
