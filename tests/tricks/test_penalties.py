"""L1 and L2 penalties: the stated gradient on layer weights only, and L1's pull of undetermined weights to zero."""

from __future__ import annotations

import torch
from torch import nn

from tests.tricks.common import trick_hook
from trainworks.tricks.penalties import l1_penalty, l2_penalty, penalised_weights


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_l2_adds_lambda_times_squared_weights_with_gradient_two_lambda_w_and_spares_biases_and_norms() -> None:
    model, strength = small_model(), 0.05
    loss = trick_hook("l2", strength=strength).on_loss(torch.tensor(1.5), model)
    layer_weights = [model[0].weight, model[3].weight]
    assert torch.isclose(loss, 1.5 + strength * sum(w.pow(2).sum() for w in layer_weights))
    loss.backward()
    for weight in layer_weights:
        assert torch.allclose(weight.grad, 2 * strength * weight.detach())
    for spared in (model[0].bias, model[1].weight, model[1].bias, model[3].bias):
        assert spared.grad is None


def test_l1_gradient_is_lambda_times_the_sign() -> None:
    model, strength = small_model(), 0.1
    trick_hook("l1", strength=strength).on_loss(torch.tensor(0.0), model).backward()
    assert torch.allclose(model[0].weight.grad, strength * model[0].weight.detach().sign())
    assert model[0].bias.grad is None


def test_penalties_cover_exactly_the_weights_of_two_or_more_dimensions() -> None:
    model = small_model()
    assert [tuple(w.shape) for w in penalised_weights(model)] == [(4, 3), (2, 4)]
    w = [torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5]])]
    assert l1_penalty(w).item() == 3.5 and l2_penalty(w).item() == 5.25


def fit_noisy_regression(strength: float | None, steps: int = 600) -> list[torch.Tensor]:
    """Least squares on 24 noisy examples where only features 1 and 2 of 8 matter, from the same start.

    Returns the model's weights every 100 steps. Without a penalty, the noise leaves the six
    irrelevant weights at the least-squares solution, visibly away from zero.
    """
    torch.manual_seed(0)
    x = torch.randn(24, 8)
    y = 2.0 * x[:, 0] - 3.0 * x[:, 1] + torch.randn(24)
    model = nn.Linear(8, 1, bias=False)
    nn.init.uniform_(model.weight, -0.5, 0.5)
    hook = trick_hook("l1", strength=strength) if strength else None
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    history = []
    for step in range(1, steps + 1):
        loss = nn.functional.mse_loss(model(x).squeeze(-1), y)
        loss = hook.on_loss(loss, model) if hook else loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            history.append(model.weight.detach()[0].clone())
    return history


def test_l1_drives_small_weights_to_zero_faster_than_no_penalty() -> None:
    plain, penalised = fit_noisy_regression(None), fit_noisy_regression(0.5)
    for without, with_l1 in zip(plain, penalised):
        assert bool((with_l1[2:].abs() < 0.02).all())  # all six irrelevant weights (near) zero from step 100 on
        assert int((without[2:].abs() < 0.02).sum()) <= 1 and without[2:].abs().mean() > 0.15
    assert abs(penalised[-1][0] - 2.0) < 0.5 and abs(penalised[-1][1] + 3.0) < 0.5  # the signal is kept
