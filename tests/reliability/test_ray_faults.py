"""Faults on Ray Train workers: a killed worker is survived from the last checkpoint with the same result; a
diverging run is stopped at once on every rank and not retried, on Ray Train and on Ray Tune."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import ray.cloudpickle
import torch
import torch.distributed as dist
from rich.console import Console

from tests.conftest import JOBS, make_spec
from tests.reliability.common import DIVERGING, Recording, metric_steps
from trainworks.engine.divergence import Diverged
from trainworks.engine.hooks import Hook
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, run_job

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hooks below travel to the workers


class Attempts(Hook):
    """Appends `rank pid` to a file each time a worker starts fitting (so restarts can be counted)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.epoch = self.batches = 0

    def on_fit_start(self, model, optimizer) -> None:
        with (self.folder / "attempts").open("a") as handle:
            handle.write(f"{dist.get_rank()} {os.getpid()}\n")

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch, self.batches = epoch, 0

    def attempts(self) -> list[str]:
        return (self.folder / "attempts").read_text().splitlines()


class WaitToBeKilled(Attempts):
    """Rank 1, epoch 2, third batch, first attempt only: writes its pid and waits there for the test's SIGKILL."""

    def on_train_batch(self, x, y):
        self.batches += 1
        if (self.epoch, self.batches, dist.get_rank()) == (2, 3, 1) and not (self.folder / "killed").exists():
            (self.folder / "victim.pid").write_text(str(os.getpid()))
            while True:
                time.sleep(0.05)
        return x, y


class PoisonRankZero(Attempts):
    """NaN inputs on rank 0 only, at epoch 1's second batch: rank 1's own loss stays finite."""

    def on_train_batch(self, x, y):
        self.batches += 1
        if (self.epoch, self.batches, dist.get_rank()) == (1, 2, 0):
            x = x * torch.nan
        return x, y


def kill_when_ready(folder: Path, deadline_s: float = 600) -> threading.Thread:
    """SIGKILL the worker that wrote victim.pid, from outside it, as soon as it does."""

    def kill() -> None:
        deadline = time.time() + deadline_s
        while not (folder / "victim.pid").exists():
            if time.time() > deadline:
                return
            time.sleep(0.1)
        (folder / "killed").write_text("yes")
        os.kill(int((folder / "victim.pid").read_text()), signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def quiet() -> Terminal:
    return Terminal(Console(file=io.StringIO()))


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_run_ends_as_if_nothing_happened(ray_session, tracker,
                                                                              tmp_path: Path) -> None:
    spec = make_spec(scaling={"num_workers": 2, "max_failures": 1}, training={"epochs": 3},
                     checkpoint={"storage_path": str(tmp_path / "checkpoints")}, tracking={"log_model": False})
    hook = WaitToBeKilled(tmp_path)
    killer = kill_when_ready(tmp_path)
    disturbed = run_job(spec, RunOptions(JOBS / "quickstart.yaml", extra_hooks=(hook,)), tracker, quiet())
    killer.join(timeout=5)
    assert (tmp_path / "killed").exists()
    ranks = sorted(line.split()[0] for line in hook.attempts())
    assert ranks == ["0", "0", "1", "1"]  # the worker group started twice: once, and once after the kill
    assert int((tmp_path / "victim.pid").read_text()) in {int(line.split()[1]) for line in hook.attempts()}

    undisturbed = run_job(spec, RunOptions(JOBS / "quickstart.yaml"), tracker, quiet())
    assert disturbed.metrics == undisturbed.metrics  # same seeds, resumed from epoch 1's checkpoint: bit for bit
    for metric in ("train_loss", "val_loss", "val_accuracy"):
        assert metric_steps(tracker.client, disturbed.run_id, metric) == [1, 2, 3]
        history = [[p.value for p in sorted(tracker.client.get_metric_history(run, metric), key=lambda p: p.step)]
                   for run in (disturbed.run_id, undisturbed.run_id)]
        assert history[0] == history[1], metric
    assert tracker.client.get_run(disturbed.run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_divergence_on_one_rank_stops_every_rank_and_is_not_retried(ray_session, tracker, tmp_path: Path) -> None:
    spec = make_spec(scaling={"num_workers": 2, "max_failures": 2}, training={"epochs": 2},
                     checkpoint={"storage_path": str(tmp_path / "checkpoints")},
                     tracking={"experiment": "tests-ray-divergence", "log_model": False})
    hook = PoisonRankZero(tmp_path)
    with pytest.raises(Diverged) as caught:
        run_job(spec, RunOptions(JOBS / "quickstart.yaml", extra_hooks=(hook,)), tracker, Recording())
    assert (caught.value.epoch, caught.value.step) == (1, 2)
    assert sorted(line.split()[0] for line in hook.attempts()) == ["0", "1"]  # one attempt: max_failures unused
    [run] = tracker.find_runs("tests-ray-divergence", {"trainworks.failure": "diverged"})
    assert run.info.status == "FAILED" and run.data.tags["trainworks.diverged_step"] == "2"


@pytest.mark.slow
def test_a_diverging_tune_trial_is_stopped_not_retried_and_the_others_go_on(ray_session, tracker) -> None:
    from trainworks.runtime.tune import run_search

    search = {"metric": "val_loss", "mode": "min", "num_samples": 1, "max_concurrent": 2,
              "space": {"optimizer.name": {"grid": ["adam", "sgd"]}}}  # sgd diverges on DIVERGING, adam does not
    spec = make_spec(DIVERGING, training={"epochs": 2}, tune=search,
                     tracking={"experiment": "tests-tune-divergence", "log_model": False})
    summary = run_search(spec, RunOptions(JOBS / "quickstart.yaml"), tracker, Recording())
    runs = {run.data.tags["trainworks.searched.optimizer.name"]: run
            for run in tracker.find_runs("tests-tune-divergence", {"mlflow.parentRunId": summary.parent_run_id})}
    assert set(runs) == {"adam", "sgd"} and summary.trials == 2
    diverged, healthy = runs["sgd"], runs["adam"]
    assert diverged.info.status == "FAILED" and diverged.data.tags["trainworks.failure"] == "diverged"
    assert diverged.data.tags["trainworks.diverged_step"] == "5"
    assert metric_steps(tracker.client, diverged.info.run_id, "val_loss") == []
    assert healthy.info.status == "FINISHED" and summary.best_run_id == healthy.info.run_id
    assert metric_steps(tracker.client, healthy.info.run_id, "val_loss") == [1, 2]
