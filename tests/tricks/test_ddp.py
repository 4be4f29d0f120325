"""Tricks under Ray Train DDP (2 workers) give what the in-process loop gives: weight averages, early stopping,
penalties, channels_last (set before DDP builds its buckets) and test-time views agree across ranks."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.conftest import JOBS, make_spec
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, run_job

TRICKS = [{"name": "l2", "strength": 1e-3}, {"name": "ema", "decay": 0.9},
          {"name": "early_stopping", "patience": 5}, "channels_last", "tta"]


@pytest.mark.slow
def test_stacked_tricks_on_two_ddp_workers_match_the_in_process_run(ray_session, tracker) -> None:
    # SGD, not Adam: Adam turns float rounding in near-zero gradients into lr-sized steps, which
    # would hide a real difference between the paths behind noise of the same size
    spec = make_spec(model={"name": "guide_cnn", "hidden": 32, "pooled_size": 4}, tricks=TRICKS,
                     optimizer={"name": "sgd", "lr": 0.1}, scaling={"num_workers": 2}, training={"epochs": 2, "batch_size": 64})
    quiet = Terminal(Console(file=io.StringIO()))
    ray_run = run_job(spec, RunOptions(JOBS / "quickstart.yaml"), tracker, quiet)
    inline_run = run_job(spec, RunOptions(JOBS / "quickstart.yaml", inline=True), tracker, quiet)
    assert tracker.client.get_run(ray_run.run_id).data.tags["trainworks.workers"] == "2"
    for name in ("val_loss", "val_accuracy"):
        assert ray_run.metrics[name] == pytest.approx(inline_run.metrics[name], rel=1e-4, abs=1e-4)
