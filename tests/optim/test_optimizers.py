"""Optimisers do what their papers say: Lookahead's slow weights, AdaBound's bounds, decay that spares biases."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from tests.optim.helpers import Point, build_optimizer
from trainworks.optim import OPTIMIZERS
from trainworks.optim.adabound import rate_bounds
from trainworks.optim.lookahead import Lookahead
from trainworks.optim.param_groups import exempt_from_decay


def quadratic_steps(optimizer: torch.optim.Optimizer, point: Point, count: int) -> list[float]:
    """Minimise f(w) = |w|^2 / 2 (gradient w) for `count` steps; the first weight after each one."""
    seen = []
    for _ in range(count):
        optimizer.zero_grad()
        (point.w ** 2 / 2).sum().backward()
        optimizer.step()
        seen.append(point.w[0, 0].item())
    return seen


def test_lookahead_moves_slow_weights_every_k_steps_as_in_the_paper() -> None:
    point = Point(1.0)
    optimizer = build_optimizer("lookahead", point, k=2, alpha=0.5, base={"name": "sgd", "lr": 0.1})
    # SGD on w^2/2 multiplies w by 0.9 per fast step. After k = 2 fast steps the slow weight
    # moves halfway: phi = phi + 0.5 * (theta_2 - phi), and the fast weight restarts from it.
    slow1 = 1.0 + 0.5 * (0.81 - 1.0)                 # 0.905
    slow2 = slow1 + 0.5 * (slow1 * 0.81 - slow1)      # 0.819025
    expected = [0.9, slow1, slow1 * 0.9, slow2, slow2 * 0.9]
    assert quadratic_steps(optimizer, point, 5) == pytest.approx(expected, abs=1e-6)
    assert optimizer.slow[0].item() == pytest.approx(slow2)


def test_lookahead_state_checkpoints_and_restores_exactly() -> None:
    def run(steps: int, restore_from: dict | None = None) -> tuple[Lookahead, Point]:
        torch.manual_seed(0)
        point = Point(1.0, -2.0, 3.0)
        optimizer = build_optimizer("lookahead", point, k=3, alpha=0.4, base={"name": "adam", "lr": 0.1})
        if restore_from:
            point.load_state_dict(restore_from["model"])
            optimizer.load_state_dict(restore_from["optimizer"])
        quadratic_steps(optimizer, point, steps)
        return optimizer, point

    straight, straight_point = run(7)
    half, half_point = run(4)
    saved = {"model": half_point.state_dict(), "optimizer": half.state_dict()}
    assert saved["optimizer"]["fast_steps"] == 4 and len(saved["optimizer"]["slow"]) == 1
    resumed, resumed_point = run(3, restore_from=saved)
    assert torch.equal(resumed_point.w, straight_point.w)
    assert torch.equal(resumed.slow[0], straight.slow[0])


def test_lookahead_shares_its_groups_with_the_base_so_schedules_reach_it() -> None:
    optimizer = build_optimizer("lookahead", Point(1.0), base={"name": "adam", "lr": 0.1})
    optimizer.param_groups[0]["lr"] = 0.01
    assert optimizer.base.param_groups[0]["lr"] == 0.01
    optimizer.load_state_dict(optimizer.state_dict())
    optimizer.param_groups[0]["lr"] = 0.02  # after a restore the base has new group dicts: still shared
    assert optimizer.base.param_groups[0]["lr"] == 0.02


def test_lookahead_refuses_a_closure_optimiser_as_base() -> None:
    with pytest.raises(ValidationError, match="lookahead cannot wrap lbfgs"):
        build_optimizer("lookahead", Point(1.0), base={"name": "lbfgs"})


def test_adabound_bounds_start_wide_and_close_in_on_final_lr() -> None:
    assert rate_bounds(0.1, 1e-3, 1) == pytest.approx((0.1 * (1 - 1 / 1.001), 0.1 * (1 + 1000)))
    lower, upper = rate_bounds(0.1, 1e-3, 10**8)
    assert 0.1 - 2e-6 < lower < 0.1 < upper < 0.1 + 2e-6


def test_adabound_step_stays_within_its_bounds_and_the_bounds_bite() -> None:
    torch.manual_seed(0)
    final_lr, gamma = 0.1, 0.5  # narrow bounds early, so both clip on these gradients
    model = Point(*[0.0] * 400)
    optimizer = build_optimizer("adabound", model, lr=1e-3, final_lr=final_lr, gamma=gamma)
    clipped_low = clipped_high = 0
    for step in range(1, 6):
        model.w.grad = torch.randn_like(model.w) * torch.logspace(-3, 1, 400)
        before = model.w.detach().clone()
        optimizer.step()
        exp_avg = optimizer.state[model.w]["exp_avg"]
        rate = (before - model.w.detach()) / exp_avg  # the per-parameter step size actually applied
        lower, upper = rate_bounds(final_lr, gamma, step)
        assert torch.all(rate >= lower * (1 - 1e-4)) and torch.all(rate <= upper * (1 + 1e-4))
        clipped_low += int(torch.isclose(rate, torch.tensor(lower), rtol=1e-4).sum())
        clipped_high += int(torch.isclose(rate, torch.tensor(upper), rtol=1e-4).sum())
    assert clipped_low > 0 and clipped_high > 0


def test_adabound_equals_adam_while_the_bounds_are_wide() -> None:
    runs = []
    for name in ("adam", "adabound"):
        point = Point(1.0, -2.0)
        runs.append(quadratic_steps(build_optimizer(name, point, lr=0.01), point, 5))
    assert runs[0] == pytest.approx(runs[1], rel=1e-5)


def test_momentum_and_nesterov_are_named_sgd_variants() -> None:
    for name, nesterov in (("momentum", False), ("nesterov", True)):
        group = build_optimizer(name, Point(1.0)).param_groups[0]
        assert (group["momentum"], group["nesterov"]) == (0.9, nesterov)
    with pytest.raises(ValidationError, match="nesterov needs momentum"):
        build_optimizer("sgd", Point(1.0), nesterov=True)


def net_with_norms() -> nn.Module:
    """Linear -> BatchNorm -> LayerNorm over a 2x3 matrix (its weight is 2-D) -> Linear."""
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Unflatten(1, (2, 3)), nn.LayerNorm((2, 3)),
                         nn.Flatten(), nn.Linear(6, 2))


def test_biases_and_norm_weights_are_exempt_from_decay_by_type_not_only_shape() -> None:
    assert exempt_from_decay(net_with_norms()) == {"0.bias", "1.weight", "1.bias", "3.weight", "3.bias", "5.bias"}


DECAYING = [entry.name for entry in OPTIMIZERS if "decay_biases_and_norms" in entry.params.model_fields]


@pytest.mark.parametrize("name", DECAYING)
@pytest.mark.parametrize("decay_all", [False, True])
def test_weight_decay_reaches_only_weights_unless_asked(name: str, decay_all: bool) -> None:
    torch.manual_seed(0)
    model = net_with_norms()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(0.5, 1.0)  # nonzero everywhere, so decay would show on any parameter
    optimizer = build_optimizer(name, model, weight_decay=0.1, decay_biases_and_norms=decay_all)
    before = {key: value.detach().clone() for key, value in model.named_parameters()}
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)  # the data says nothing: only decay can move a weight
    optimizer.step()
    moved = {key for key, value in model.named_parameters() if not torch.equal(value, before[key])}
    assert moved == (set(before) if decay_all else {"0.weight", "5.weight"})


def test_adamw_decay_is_decoupled_and_spares_biases() -> None:
    model = net_with_norms()
    optimizer = build_optimizer("adamw", model, lr=0.1, weight_decay=0.5)
    weight, bias = model[0].weight.detach().clone(), model[0].bias.detach().clone()
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    assert torch.allclose(model[0].weight, weight * (1 - 0.1 * 0.5))  # decoupled: exactly (1 - lr * wd)
    assert torch.equal(model[0].bias, bias)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.5, 0.0]


def test_lbfgs_has_one_group_and_steps_with_a_closure() -> None:
    point = Point(3.0, -1.0)
    optimizer = build_optimizer("lbfgs", point)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = ((point.w - torch.tensor([[1.0, 2.0]])) ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    assert len(optimizer.param_groups) == 1
    assert torch.allclose(point.w, torch.tensor([[1.0, 2.0]]), atol=1e-5)
    assert not math.isnan(point.w.sum().item())
