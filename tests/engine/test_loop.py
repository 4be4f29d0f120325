"""The training loop in-process: it learns, resumes exactly, accumulates exactly, and lets hooks steer it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import JOBS, make_spec
from trainworks.data.prepare import prepare_data
from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.checkpoint import load_checkpoint
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.hooks import Hook
from trainworks.engine.loop import EpochRecord, fit
from trainworks.spec import load_spec


class Recorder:
    """A Reporter that keeps every epoch and saves checkpoints into a folder."""

    def __init__(self, folder: Path | None = None, fail_after: int | None = None) -> None:
        self.folder, self.fail_after = folder, fail_after
        self.records: list[EpochRecord] = []

    def epoch_end(self, record: EpochRecord, save) -> None:
        self.records.append(record)
        if self.folder is not None:
            save(self.folder / f"epoch{record.epoch}")
        if record.epoch == self.fail_after:
            raise RuntimeError("simulated crash")

    def fit_end(self, save) -> None:
        if self.folder is not None:
            save(self.folder / "final")


def train(spec, reporter=None, resume=None, hooks=()):
    data = prepare_data(spec.data, spec.data.split_seed)
    parts = build_parts(spec, data, torch.device("cpu"))
    parts.hooks.hooks.extend(hooks)
    reporter = reporter or Recorder()
    result = fit(parts, loop_settings(spec), SingleProcess(), reporter, resume)
    return result, reporter


def test_quickstart_job_reaches_its_accuracy_in_process() -> None:
    result, reporter = train(load_spec(JOBS / "quickstart.yaml"))
    assert [r.epoch for r in reporter.records] == list(range(1, 9))
    assert reporter.records[-1].metrics["val_accuracy"] >= 0.97
    assert reporter.records[-1].metrics["train_loss"] < reporter.records[0].metrics["train_loss"]


def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    spec = make_spec(model={"name": "mlp", "hidden": [32], "dropout": 0.3}, schedule="cosine",
                     training={"epochs": 3})
    straight, _ = train(spec)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(spec, Recorder(tmp_path, fail_after=2))
    checkpoint = load_checkpoint(tmp_path / "epoch2")
    resumed, reporter = train(spec, Recorder(), resume=checkpoint)
    assert [r.epoch for r in reporter.records] == [3]
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    for expected, actual in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(expected, actual)


def test_gradient_accumulation_gives_the_whole_batch_gradient() -> None:
    grads = {}
    for accumulation in (1, 4):
        spec = make_spec(optimizer={"name": "sgd", "lr": 0.5}, training={"epochs": 1, "batch_size": 32,
                                                                         "grad_accumulation": accumulation})
        result, _ = train(spec)
        grads[accumulation] = torch.cat([p.detach().flatten() for p in result.model.parameters()])
    assert torch.allclose(grads[1], grads[4], atol=1e-5)


class StopAt(Hook):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        return epoch >= self.epoch


def test_a_hook_can_stop_training_after_an_epoch() -> None:
    result, reporter = train(make_spec(training={"epochs": 5}), hooks=[StopAt(2)])
    assert result.stopped_early and [r.epoch for r in reporter.records] == [1, 2]


class Spy(Hook):
    """Counts training batches and records the gradient norm the optimiser would see."""

    def __init__(self) -> None:
        self.batches, self.norms = 0, []

    def on_train_batch(self, x, y):
        self.batches += 1
        return x, y

    def on_before_step(self, model, optimizer) -> None:
        self.norms.append(torch.norm(torch.stack([p.grad.norm() for p in model.parameters()])).item())


def test_hooks_see_training_batches_only_and_clipping_bounds_the_gradient() -> None:
    spy = Spy()
    spec = make_spec(training={"epochs": 1, "batch_size": 100, "grad_clip_norm": 0.01})
    train(spec, hooks=[spy])
    assert spy.batches == 15  # ceil(1438 / 100): validation batches never reach training hooks
    assert max(spy.norms) <= 0.01 + 1e-6


def test_bf16_autocast_trains_on_cpu() -> None:
    result, reporter = train(make_spec(training={"epochs": 2, "precision": "bf16"}))
    assert reporter.records[-1].metrics["val_accuracy"] > 0.85
