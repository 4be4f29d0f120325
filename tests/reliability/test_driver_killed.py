"""`trainworks run` SIGKILLed mid-run; the same command with --resume continues the same MLflow run from its last
checkpoint and every epoch is logged exactly once (points queued but unsent at the kill come back from the
checkpoint's history)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import JOBS
from tests.reliability.common import metric_steps
from tests.test_cli import TRAINWORKS, clean_env, trainworks

EPOCHS = 6


@pytest.mark.slow
def test_a_sigkilled_run_resumes_in_the_same_mlflow_run_logging_each_epoch_once(tmp_path: Path) -> None:
    job = [str(JOBS / "penguins_mlp.yaml"), "--inline", "--set", f"training.epochs={EPOCHS}",
           "--set", "tracking.log_model=false"]
    process = subprocess.Popen([*TRAINWORKS, "run", *job], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    run_id = None
    try:
        for line in process.stdout:
            if line.startswith("run "):
                run_id = line.split()[1]
            if line.startswith(f"epoch 3/{EPOCHS}"):
                process.send_signal(signal.SIGKILL)  # no handler runs: no flush, no end_run
                break
    finally:
        process.kill()
        process.wait(timeout=60)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL and run_id

    resumed = trainworks("run", *job, "--resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trained = [int(line.split()[1].split("/")[0]) for line in resumed.stdout.splitlines() if line.startswith("epoch ")]
    assert trained[0] <= 4 and trained[-1] == EPOCHS  # continued from a checkpoint, not from epoch 1
    assert 1 not in trained
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    for metric in ("train_loss", "val_loss", "val_accuracy", "lr"):
        assert metric_steps(client, run_id, metric) == list(range(1, EPOCHS + 1)), metric
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["trainworks.resumed"] == "true"
    assert len(client.search_runs([run.info.experiment_id])) == 1  # the same run, no second one
