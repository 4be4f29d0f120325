"""Optimisers, schedules and losses do what their names promise."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainworks.data.types import DataInfo
from trainworks.losses import LOSSES
from trainworks.optim import OPTIMIZERS, SCHEDULES, Plan

CLASSIFY = DataInfo("classification", "image", (1, 8, 8), 5)
REGRESS = DataInfo("regression", "table", (3,), 1)


def optimizer(name: str = "sgd", **params) -> torch.optim.Optimizer:
    entry = OPTIMIZERS.get(name)
    return entry.build(entry.params(lr=1.0, **params), [torch.nn.Parameter(torch.zeros(1))])


def schedule(name: str, epochs: int = 50, steps: int = 1, **params):
    entry = SCHEDULES.get(name)
    opt = optimizer()
    return opt, entry.build(entry.params(**params), opt, Plan(epochs, steps))


def rates(opt, sched, count: int) -> list[float]:
    seen = []
    for _ in range(count):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.scheduler.step()
    return seen


def test_step_schedule_drops_once_at_step_size_not_every_epoch_after() -> None:
    opt, sched = schedule("step", step_size=30, gamma=0.1)
    seen = rates(opt, sched, 50)
    assert sched.interval == "epoch"
    assert seen[:30] == [1.0] * 30 and all(math.isclose(r, 0.1) for r in seen[30:50])


def test_cosine_anneals_over_all_steps_to_eta_min() -> None:
    opt, sched = schedule("cosine", epochs=2, steps=5, eta_min=0.1)
    seen = rates(opt, sched, 11)
    assert sched.interval == "step" and seen[0] == 1.0
    assert math.isclose(seen[5], 0.55) and math.isclose(seen[10], 0.1)


def test_constant_keeps_the_rate() -> None:
    opt, sched = schedule("constant")
    assert rates(opt, sched, 5) == [1.0] * 5


def test_nesterov_needs_momentum() -> None:
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        optimizer(nesterov=True)
    assert optimizer(nesterov=True, momentum=0.9).param_groups[0]["nesterov"]


def loss(name: str, info: DataInfo = CLASSIFY, **params):
    entry = LOSSES.get(name)
    return entry.build(entry.params(**params), info)


def test_cross_entropy_with_label_smoothing_matches_its_definition() -> None:
    logits, targets = torch.randn(8, 5), torch.randint(0, 5, (8,))
    smooth = 0.2
    soft = F.one_hot(targets, 5).float() * (1 - smooth) + smooth / 5
    expected = -(soft * logits.log_softmax(-1)).sum(-1).mean()
    assert torch.allclose(loss("cross_entropy", label_smoothing=smooth)(logits, targets), expected)


def test_mse_is_brier_score_for_classes_and_plain_mse_for_regression() -> None:
    logits, targets = torch.randn(8, 5), torch.randint(0, 5, (8,))
    brier = ((logits.softmax(-1) - F.one_hot(targets, 5)) ** 2).mean()
    assert torch.allclose(loss("mse")(logits, targets), brier)
    outputs, values = torch.randn(8, 1), torch.randn(8, 1)
    assert torch.allclose(loss("mse", REGRESS)(outputs, values), ((outputs - values) ** 2).mean())
