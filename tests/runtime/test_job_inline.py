"""A whole job in-process with a real MLflow store: params, one point per epoch, artifacts, a model that loads."""

from __future__ import annotations

import io
from pathlib import Path

import mlflow.pytorch
import pytest
import torch
from rich.console import Console

from tests.conftest import JOBS, make_spec
from trainworks.data.prepare import prepare_data
from trainworks.engine.hooks import Hook
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, run_job
from trainworks.spec import SpecError

EPOCH_METRICS = {"train_loss", "val_loss", "val_accuracy", "lr", "epoch_seconds", "samples_per_second"}


def quiet() -> Terminal:
    return Terminal(Console(file=io.StringIO()))


def inline(**options) -> RunOptions:
    return RunOptions(JOBS / "quickstart.yaml", inline=True, **options)


def steps(tracker, run_id: str, metric: str) -> list[int]:
    return sorted(point.step for point in tracker.client.get_metric_history(run_id, metric))


def test_run_records_params_metrics_artifacts_and_a_registered_model(tracker) -> None:
    spec = make_spec(training={"epochs": 3}, tracking={"registered_model": "test-digits-mlp"})
    summary = run_job(spec, inline(), tracker, quiet())
    run = tracker.client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["training.epochs"] == "3" and run.data.params["model.name"] == "mlp"
    assert run.data.params["model.hidden"] == "[64]" and run.data.params["optimizer.lr"] == "0.01"
    for metric in EPOCH_METRICS:
        assert steps(tracker, summary.run_id, metric) == [1, 2, 3], metric
    for tag in ("trainworks.spec_hash", "trainworks.torch_version", "trainworks.ray_version", "trainworks.device",
                "mlflow.source.git.commit"):
        assert run.data.tags.get(tag), tag
    artifacts = {a.path for folder in ("", "spec", "plots", "preprocessing", "metrics")
                 for a in tracker.client.list_artifacts(summary.run_id, folder)}
    assert {"spec/job.yaml", "plots/learning_curve.png", "plots/confusion_matrix.png",
            "preprocessing/state.json", "metrics/history.json"} <= artifacts

    loaded = mlflow.pytorch.load_model(summary.model_uri)
    data = prepare_data(spec.data, spec.data.split_seed)
    accuracy = (loaded(data.val.x).argmax(-1) == data.val.y).float().mean().item()
    assert accuracy == pytest.approx(summary.metrics["val_accuracy"], abs=1e-6)
    version = tracker.client.get_model_version("test-digits-mlp", summary.model_version)
    assert version.run_id == summary.run_id
    assert float(version.tags["val_accuracy"]) == pytest.approx(summary.metrics["val_accuracy"], rel=1e-5)


class InterruptBefore(Hook):
    """Ctrl-C as the given epoch starts: the epochs before it are checkpointed and logged."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_logging_each_epoch_once(tracker) -> None:
    spec = make_spec(training={"epochs": 4})
    with pytest.raises(KeyboardInterrupt):
        run_job(spec, inline(extra_hooks=(InterruptBefore(3),)), tracker, quiet())
    run_id = tracker.client.search_runs([tracker.client.get_experiment_by_name("tests").experiment_id],
                                        order_by=["attributes.start_time DESC"], max_results=1)[0].info.run_id
    assert tracker.client.get_run(run_id).info.status == "KILLED"
    assert steps(tracker, run_id, "val_loss") == [1, 2]
    summary = run_job(spec, inline(resume=run_id), tracker, quiet())
    assert summary.run_id == run_id and tracker.client.get_run(run_id).info.status == "FINISHED"
    for metric in EPOCH_METRICS:
        assert steps(tracker, run_id, metric) == [1, 2, 3, 4], metric


def test_epochs_checkpointed_but_never_logged_are_backfilled_on_resume(tracker) -> None:
    spec = make_spec(training={"epochs": 3})
    real_log_epoch = tracker.log_epoch

    def driver_dies_at_epoch_2(run_id, epoch, metrics, timestamp_ms):
        if epoch == 2:
            raise KeyboardInterrupt  # checkpoint 2 is on disk; its metrics never reach MLflow
        real_log_epoch(run_id, epoch, metrics, timestamp_ms)

    tracker.log_epoch = driver_dies_at_epoch_2
    with pytest.raises(KeyboardInterrupt):
        run_job(spec, inline(), tracker, quiet())
    tracker.log_epoch = real_log_epoch
    run = tracker.client.search_runs([tracker.client.get_experiment_by_name("tests").experiment_id],
                                     order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert steps(tracker, run.info.run_id, "val_loss") == [1]
    run_job(spec, inline(resume=run.info.run_id), tracker, quiet())
    assert steps(tracker, run.info.run_id, "val_loss") == [1, 2, 3]


def test_resume_refuses_a_different_spec_or_an_unknown_run(tracker) -> None:
    summary = run_job(make_spec(training={"epochs": 1}), inline(), tracker, quiet())
    with pytest.raises(SpecError, match="different spec"):
        run_job(make_spec(training={"epochs": 2}, optimizer={"name": "sgd"}), inline(resume=summary.run_id),
                tracker, quiet())
    with pytest.raises(SpecError, match="no run 'nope'"):
        run_job(make_spec(), inline(resume="nope"), tracker, quiet())


def test_more_epochs_can_be_added_to_a_finished_run(tracker) -> None:
    summary = run_job(make_spec(training={"epochs": 2}), inline(), tracker, quiet())
    run_job(make_spec(training={"epochs": 3}), inline(resume=summary.run_id), tracker, quiet())
    assert steps(tracker, summary.run_id, "train_loss") == [1, 2, 3]


def test_checkpoints_live_under_the_run_id_and_only_the_newest_are_kept(tracker, tmp_path: Path) -> None:
    summary = run_job(make_spec(training={"epochs": 4}, checkpoint={"keep": 2}), inline(), tracker, quiet())
    kept = sorted(p.name for p in (tmp_path / "checkpoints" / summary.run_id).iterdir())
    assert kept == ["checkpoint_epoch_00003", "checkpoint_epoch_00004"]
    state = torch.load(tmp_path / "checkpoints" / summary.run_id / kept[-1] / "state.pt", weights_only=True)
    assert {"model", "optimizer", "schedule", "scaler", "hooks"} <= set(state)
