"""Ray Tune searches: nested MLflow runs, the best model registered, ASHA stopping early, resume after a kill."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from tests.conftest import DIGITS_MLP, JOBS, make_spec
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions
from trainworks.spec import SpecError, load_spec

SEARCH = {"metric": "val_accuracy", "mode": "max", "num_samples": 4, "max_concurrent": 2,
          "space": {"optimizer.lr": {"loguniform": [0.001, 0.03]}, "model.hidden": {"choice": [[32], [64]]}}}


# jobs/digits_search.yaml made short: 4 random trials of 2 epochs, none stopped early
SEARCH_JOB_SHORT = ["tune.num_samples=4", "tune.search=random", "tune.scheduler.name=fifo", "training.epochs=2"]


def children(tracker, experiment: str, parent: str) -> list:
    return tracker.find_runs(experiment, {"mlflow.parentRunId": parent})


def test_an_unknown_path_in_the_space_is_refused_at_load_naming_it() -> None:
    with pytest.raises(SpecError, match=r"tune.space.optimizer.lrr: 0.001 does not make a valid job: "
                                        r"optimizer.lrr: unknown key 'lrr' \(did you mean 'lr'\?\)"):
        make_spec(DIGITS_MLP, tune={**SEARCH, "space": {"optimizer.lrr": {"loguniform": [0.001, 0.03]}}})
    with pytest.raises(SpecError, match=r"tune.space.model.name: 'cnnn' does not make a valid job"):
        make_spec(DIGITS_MLP, tune={**SEARCH, "space": {"model.name": {"choice": ["mlp", "cnnn"]}}})


def test_bayes_search_refuses_grid_entries() -> None:
    with pytest.raises(SpecError, match="bayes search samples; optimizer.lr use grid: use choice instead"):
        make_spec(DIGITS_MLP, tune={**SEARCH, "search": "bayes", "space": {"optimizer.lr": {"grid": [0.1, 0.2]}}})


@pytest.mark.slow
def test_random_search_nests_four_trials_and_registers_the_best(ray_session, tracker) -> None:
    from trainworks.runtime.tune import run_search

    spec = load_spec(JOBS / "digits_search.yaml", [*SEARCH_JOB_SHORT, "tracking.experiment=search",
                                                    "tracking.registered_model=search-best"])
    summary = run_search(spec, RunOptions(JOBS / "digits_search.yaml"), tracker,
                         Terminal(Console(file=io.StringIO())))
    runs = children(tracker, "search", summary.parent_run_id)
    assert len(runs) == 4 and all(run.info.status == "FINISHED" for run in runs)
    for run in runs:
        assert sorted(p.step for p in tracker.client.get_metric_history(run.info.run_id, "val_accuracy")) == [1, 2]
        assert float(run.data.params["optimizer.lr"]) == pytest.approx(
            float(run.data.tags["trainworks.searched.optimizer.lr"]))
    best = max(runs, key=lambda run: run.data.metrics["val_accuracy"])
    assert summary.best_run_id == best.info.run_id
    parent = tracker.client.get_run(summary.parent_run_id)
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best.data.metrics["val_accuracy"])
    artifacts = {a.path for folder in ("search", "plots") for a in
                 tracker.client.list_artifacts(summary.parent_run_id, folder)}
    assert {"search/trials.csv", "search/best_config.json", "plots/trial_curves.png",
            "plots/val_accuracy_by_optimizer.lr.png", "plots/val_accuracy_by_model.hidden.png",
            "plots/val_accuracy_by_model.dropout.png"} <= artifacts
    import mlflow.pytorch
    import torch

    version = tracker.client.get_model_version("search-best", summary.model_version)
    assert version.run_id == best.info.run_id and version.tags["trainworks.search_run_id"] == summary.parent_run_id
    assert mlflow.pytorch.load_model(f"models:/search-best/{summary.model_version}")(torch.zeros(2, 1, 8, 8)).shape \
        == (2, 10)


@pytest.mark.slow
def test_asha_stops_the_weak_trials_early(ray_session, tracker) -> None:
    from trainworks.runtime.tune import run_search

    asha = {"metric": "val_accuracy", "mode": "max", "search": "grid", "num_samples": 1, "max_concurrent": 2,
            "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
            "space": {"optimizer.lr": {"grid": [0.3, 0.1, 0.001, 0.00001]}}}
    spec = make_spec(DIGITS_MLP, optimizer={"name": "sgd", "lr": 0.01}, training={"epochs": 4}, tune=asha,
                     tracking={"experiment": "asha"})
    summary = run_search(spec, RunOptions(JOBS / "quickstart.yaml"), tracker, Terminal(Console(file=io.StringIO())))
    epochs = {float(run.data.params["optimizer.lr"]): len(tracker.client.get_metric_history(run.info.run_id,
                                                                                               "val_accuracy"))
              for run in children(tracker, "asha", summary.parent_run_id)}
    # the first trial at each rung always continues, so some trial trains all 4 epochs; the hopeless
    # rate reaches the first rung after others have set its cutoff (it starts third) and stops there
    assert max(epochs.values()) == 4 and epochs[0.00001] < 4


@pytest.mark.slow
def test_a_killed_search_resumes_without_rerunning_finished_trials(tmp_path: Path) -> None:
    job = {**DIGITS_MLP, "training": {"epochs": 2, "batch_size": 64}, "tracking": {"experiment": "resumed"},
           "tune": {**SEARCH, "max_concurrent": 1}}
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(job))
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "RAY_ADDRESS"}}
    command = [sys.executable, "-m", "trainworks.cli", "tune", "search.yaml"]
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    finished = 0
    for line in driver.stdout:
        finished += line.rstrip().endswith("finished")
        if finished == 2:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and its embedded Ray die without cleaning up
            killed_ms = time.time() * 1000
            break
    driver.wait(timeout=60)
    time.sleep(2)
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("resumed").experiment_id
    before = {run.data.tags["trainworks.trial_id"] for run in client.search_runs(
        [experiment], "tags.`mlflow.parentRunId` != ''") if run.info.status == "FINISHED"}
    assert len(before) == 2
    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    runs = client.search_runs([experiment], "tags.`mlflow.parentRunId` != ''")
    assert len(runs) == 4 and all(run.info.status == "FINISHED" for run in runs)
    for run in runs:
        points = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(p.step for p in points) == [1, 2]  # every epoch once: none repeated, none missing
        if run.data.tags["trainworks.trial_id"] in before:  # finished trials trained nothing after the kill
            assert max(p.timestamp for p in points) < killed_ms
