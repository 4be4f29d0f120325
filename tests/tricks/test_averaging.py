"""EMA and SWA: the stated averages, used by validation and left in the model at the end; SWA refreshes batch norm."""

from __future__ import annotations

import torch
from torch import nn

from tests.conftest import make_spec
from tests.tricks.common import WeightLog, assert_same, run_fit, trick_hook, weights
from trainworks.data.prepare import prepare_data
from trainworks.engine.assemble import build_parts
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.loop import evaluate
from trainworks.tricks.averaging import ema_decay


def ema_formula(snapshots: list[list[torch.Tensor]], decays: list[float]) -> list[torch.Tensor]:
    """average_1 = w_1; average_t = d_t * average_(t-1) + (1 - d_t) * w_t."""
    average = [w.clone() for w in snapshots[0]]
    for snapshot, decay in zip(snapshots[1:], decays):
        average = [decay * a + (1 - decay) * w for a, w in zip(average, snapshot)]
    return average


def test_ema_after_n_steps_equals_the_closed_form() -> None:
    torch.manual_seed(0)
    model, decay = nn.Linear(3, 2), 0.9
    hook = trick_hook("ema", decay=decay, warmup=False)
    snapshots = []
    for step in range(1, 6):
        nn.init.normal_(model.weight)
        nn.init.normal_(model.bias)
        snapshots.append(weights(model))
        hook.on_step_end(model, step)
    # decay^4 w_1 + sum_{k=2..5} (1 - decay) decay^(5-k) w_k
    closed = [decay ** 4 * first + sum((1 - decay) * decay ** (5 - k) * s[i] for k, s in enumerate(snapshots[1:], 2))
              for i, first in enumerate(snapshots[0])]
    assert_same(closed, weights(hook.eval_model(model)), atol=1e-6)
    assert hook.eval_model(model) is not model
    assert hook.on_fit_end(model) is True
    assert_same(closed, weights(model), atol=1e-6)


def test_ema_warmup_forgets_the_first_steps_quickly_then_settles_at_decay() -> None:
    assert ema_decay(0.999, 1, warmup=True) == 2 / 11
    assert ema_decay(0.999, 10_000, warmup=True) == 0.999
    assert ema_decay(0.999, 1, warmup=False) == 0.999


def test_ema_through_the_loop_validates_and_ends_with_the_average_of_every_step() -> None:
    spec = make_spec(tricks=[{"name": "ema", "decay": 0.99}], training={"epochs": 2, "batch_size": 256})
    data = prepare_data(spec.data, 0)
    log = WeightLog()
    result, reporter = run_fit(spec, data, after=[log])
    assert len(log.steps) == 12  # 6 steps per epoch
    decays = [ema_decay(0.99, n, warmup=True) for n in range(1, len(log.steps))]
    assert_same(ema_formula(log.steps, decays), weights(result.model), atol=1e-6)
    plain = build_parts(make_spec(training={"epochs": 2}), data, torch.device("cpu"))
    final = evaluate(result.model, data.val, plain, 256, "fp32", SingleProcess())
    assert abs(final.metrics["val_loss"] - reporter.records[-1].metrics["val_loss"]) < 1e-9  # validated = averaged


def test_swa_ends_with_the_mean_of_the_epoch_snapshots_from_its_start_epoch() -> None:
    spec = make_spec(tricks=[{"name": "swa", "start_epoch": 2}], training={"epochs": 4, "batch_size": 256})
    log = WeightLog()
    result, _ = run_fit(spec, after=[log])
    mean = [torch.stack(tensors).mean(0) for tensors in zip(*(log.epochs[e] for e in (2, 3, 4)))]
    assert_same(mean, weights(result.model), atol=1e-6)
    assert not torch.allclose(mean[0], log.epochs[4][0], atol=1e-4)


def test_swa_recomputes_batch_norm_statistics_for_the_averaged_weights() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    hook = trick_hook("swa", start_epoch=1, bn_batches=8)
    hook.on_fit_start(model, torch.optim.SGD(model.parameters(), lr=0.1))
    linears, batches = [], []
    for epoch in (1, 2):
        hook.on_epoch_start(epoch)
        batches = [torch.randn(16, 4) * 3 + 1 for _ in range(3)]
        for batch in batches:
            hook.on_train_batch(batch, torch.zeros(16))
        nn.init.normal_(model[0].weight)
        model[1].running_mean.fill_(100.0)  # stale statistics that SWA must not keep
        hook.on_step_end(model, epoch)
        linears.append(weights(model[0]))
        averaged = hook.eval_model(model)
    weight, bias = (torch.stack(pair).mean(0) for pair in zip(*linears))
    features = torch.cat(batches) @ weight.T + bias  # the last epoch's batches through the averaged layer
    assert torch.allclose(averaged[1].running_mean, features.mean(0), atol=1e-5)
    assert hook.on_fit_end(model) and torch.allclose(model[1].running_mean, features.mean(0), atol=1e-5)


def test_swa_leaves_the_model_alone_when_training_ends_before_its_start_epoch() -> None:
    model = nn.Linear(2, 2)
    before = weights(model)
    hook = trick_hook("swa", start_epoch=3)
    hook.on_fit_start(model, torch.optim.SGD(model.parameters(), lr=0.1))
    for epoch in (1, 2):
        hook.on_epoch_start(epoch)
        hook.on_step_end(model, epoch)
        assert hook.eval_model(model) is model
    assert hook.on_fit_end(model) is False and hook.state_dict() == {}
    assert_same(before, weights(model))
