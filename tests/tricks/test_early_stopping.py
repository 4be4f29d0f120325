"""Early stopping: stops at the expected epoch of a scripted metric, restores the best weights, resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import make_spec
from tests.engine.test_loop import Recorder
from tests.tricks.common import WeightLog, assert_same, run_fit, trick_hook, weights
from trainworks.engine.checkpoint import load_checkpoint
from trainworks.engine.hooks import Hook
from trainworks.tricks.early_stopping import improves

# best at epoch 2; 0.79 is not better by more than min_delta 0.02; stops after 3 bad epochs (epoch 5)
SCRIPT = [1.0, 0.8, 0.79, 0.85, 0.9, 0.5, 0.4, 0.3]
SETTINGS = {"name": "early_stopping", "metric": "val_loss", "patience": 3, "min_delta": 0.02}


@pytest.mark.parametrize(("value", "best", "mode", "expected"), [
    (0.5, None, "min", True), (0.7, 0.8, "min", True), (0.79, 0.8, "min", False), (0.9, 0.8, "min", False),
    (0.83, 0.8, "max", True), (0.81, 0.8, "max", False), (0.7, 0.8, "max", False),
])
def test_an_improvement_must_beat_the_best_by_more_than_min_delta(value, best, mode, expected) -> None:
    assert improves(value, best, mode, min_delta=0.02) is expected


def test_the_hook_stops_after_patience_bad_epochs_and_restores_the_best_epochs_weights() -> None:
    model = nn.Linear(2, 1)
    hook = trick_hook("early_stopping", patience=3, min_delta=0.02)
    hook.on_fit_start(model, torch.optim.SGD(model.parameters(), lr=0.1))
    snapshots, stops = {}, []
    for epoch, value in enumerate(SCRIPT, start=1):
        nn.init.normal_(model.weight)
        snapshots[epoch] = weights(hook.eval_model(model))
        stops.append(hook.on_validation_end(epoch, {"val_loss": value}))
        if stops[-1]:
            break
    assert stops == [False, False, False, False, True]
    assert hook.on_fit_end(model) is True
    assert_same(snapshots[2], weights(model))


def test_accuracy_is_watched_upwards_by_default() -> None:
    hook = trick_hook("early_stopping", metric="val_accuracy", patience=1)
    assert [hook.on_validation_end(e, {"val_accuracy": v}) for e, v in enumerate([0.5, 0.6, 0.55], 1)] == \
           [False, False, True]


class ScriptedLoss(Hook):
    """Replaces the validation loss by a scripted sequence (listed before early stopping, which then reads it)."""

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        metrics["val_loss"] = SCRIPT[epoch - 1]
        return False


def scripted_spec():
    return make_spec(tricks=[SETTINGS], training={"epochs": 8, "batch_size": 256})


def test_the_loop_stops_at_the_expected_epoch_and_ends_with_the_best_weights() -> None:
    log = WeightLog()
    result, reporter = run_fit(scripted_spec(), before=[ScriptedLoss()], after=[log])
    assert result.stopped_early and [r.epoch for r in reporter.records] == [1, 2, 3, 4, 5]
    assert_same(log.epochs[2], weights(result.model))
    assert not torch.equal(log.epochs[5][0], log.epochs[2][0])


def test_a_run_resumed_mid_patience_stops_at_the_same_epoch_with_the_same_weights(tmp_path: Path) -> None:
    straight, _ = run_fit(scripted_spec(), before=[ScriptedLoss()])
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_fit(scripted_spec(), before=[ScriptedLoss()], reporter=Recorder(tmp_path, fail_after=3))
    checkpoint = load_checkpoint(tmp_path / "epoch3")  # one bad epoch counted, best weights from epoch 2 inside
    assert checkpoint.state["hooks"]["EarlyStopping"]["bad_epochs"] == 1
    resumed, reporter = run_fit(scripted_spec(), before=[ScriptedLoss()], resume=checkpoint)
    assert [r.epoch for r in reporter.records] == [4, 5] and resumed.stopped_early
    assert_same(weights(straight.model), weights(resumed.model))


class ValidatedWeights(Hook):
    """Listed last: records the weights validation runs each epoch (after ema substituted its average)."""

    def __init__(self) -> None:
        self.seen: list[list[torch.Tensor]] = []

    def eval_model(self, model: nn.Module) -> nn.Module:
        self.seen.append(weights(model))
        return model


def test_after_ema_it_keeps_the_averaged_weights_that_were_validated_best() -> None:
    spec = make_spec(tricks=[{"name": "ema", "decay": 0.9}, SETTINGS], training={"epochs": 8, "batch_size": 256})
    validated, log = ValidatedWeights(), WeightLog()
    result, reporter = run_fit(spec, before=[ScriptedLoss()], after=[validated, log])
    assert [r.epoch for r in reporter.records] == [1, 2, 3, 4, 5]
    assert_same(validated.seen[1], weights(result.model))  # epoch 2's average, not its raw weights
    assert not torch.allclose(log.epochs[2][0], validated.seen[1][0])
