"""A non-finite loss ends the run within one step, recorded in MLflow as FAILED with its epoch and step."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.conftest import JOBS, make_spec
from tests.reliability.common import DIVERGED_AT, DIVERGING, Recording, job_file, metric_steps
from trainworks.cli import app
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.divergence import Diverged, check_finite
from trainworks.engine.hooks import Hook
from trainworks.runtime.job import RunOptions, run_job


class StepCounter(Hook):
    """Counts optimiser steps that completed (on_step_end runs after the divergence check)."""

    def __init__(self) -> None:
        self.completed = 0

    def on_step_end(self, model, step: int) -> None:
        self.completed += 1


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_a_non_finite_batch_loss_raises_with_its_epoch_and_step(loss: float) -> None:
    with pytest.raises(Diverged, match=r"the loss was .* at epoch 2, step 17") as caught:
        check_finite(torch.tensor([loss, 4.0], dtype=torch.float64), SingleProcess(), epoch=2, step=17)
    assert (caught.value.epoch, caught.value.step) == (2, 17)
    assert pickle.loads(pickle.dumps(caught.value)).tags() == caught.value.tags()  # crosses Ray intact
    check_finite(torch.tensor([1e30, 4.0], dtype=torch.float64), SingleProcess(), epoch=2, step=17)  # large is fine


def test_divergence_stops_the_run_at_once_and_marks_it_failed_with_epoch_and_step(tracker) -> None:
    counter = StepCounter()
    spec = make_spec(DIVERGING)
    terminal = Recording()
    with pytest.raises(Diverged) as caught:
        run_job(spec, RunOptions(JOBS / "quickstart.yaml", inline=True, extra_hooks=(counter,)), tracker, terminal)
    epoch, step = DIVERGED_AT
    assert (caught.value.epoch, caught.value.step) == DIVERGED_AT
    assert counter.completed == step - 1  # no step ran after the one whose loss was not finite
    [run] = tracker.find_runs("tests-divergence", {"trainworks.failure": "diverged"})
    assert run.info.status == "FAILED"
    assert (run.data.tags["trainworks.diverged_epoch"], run.data.tags["trainworks.diverged_step"]) == (str(epoch),
                                                                                                     str(step))
    assert metric_steps(tracker.client, run.info.run_id, "train_loss") == []  # epoch 1 never finished
    assert any("training diverged" in warning for warning in terminal.warnings)


def test_the_command_exits_1_naming_epoch_step_and_what_to_try(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "mlruns.db"
    job = job_file(tmp_path, yaml.safe_dump(DIVERGING))
    result = CliRunner().invoke(app, ["run", str(job), "--inline"], env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"})
    assert result.exit_code == 1, result.output
    epoch, step = DIVERGED_AT
    assert f"training diverged: the loss was inf at epoch {epoch}, step {step}; lower the learning rate" \
        in result.stderr
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    [run] = client.search_runs([client.get_experiment_by_name("tests-divergence").experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["trainworks.diverged_step"] == str(step)
