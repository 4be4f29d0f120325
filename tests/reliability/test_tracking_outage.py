"""The MLflow tracking server stops for 30 s mid-run and comes back: the run finishes, no point is lost,
and no training step waited on the network meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import JOBS, make_spec
from tests.reliability.common import Recording, free_port, metric_steps
from trainworks.engine.hooks import Hook
from trainworks.runtime.job import RunOptions, run_job
from trainworks.tracking.metric_buffer import server_answers

OUTAGE_S = 30.0
EPOCHS = 8
EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy", "lr", "epoch_seconds", "samples_per_second")


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 with a SQLite store, started and stopped as a process group."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, deadline_s: float = 300) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                   f"sqlite:///{self.folder / 'mlflow.db'}", "--artifacts-destination", str(self.folder / "artifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        self.process = subprocess.Popen(command, cwd=self.folder, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + deadline_s
        while not server_answers(self.uri, timeout=1):
            assert time.time() < deadline and self.process.poll() is None, "mlflow server did not come up"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class Outage(Hook):
    """After epoch 2, stops the server (training goes on once it is down); a thread restarts it OUTAGE_S later."""

    def __init__(self, server: MlflowServer) -> None:
        self.server = server
        self.down_at = self.up_at = 0.0
        self.epoch_ends: list[float] = []
        self.restarter = threading.Thread(target=self._restart, daemon=True)

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        self.epoch_ends.append(time.monotonic())
        if epoch == 2:
            self.server.stop()
            assert not server_answers(self.server.uri, timeout=1)
            self.down_at = time.monotonic()
            self.restarter.start()
        return False

    def _restart(self) -> None:
        time.sleep(OUTAGE_S)
        self.server.start()
        self.up_at = time.monotonic()


@pytest.mark.slow
def test_a_30_second_tracking_outage_loses_no_point_and_never_stalls_training(tmp_path: Path, monkeypatch) -> None:
    from mlflow import MlflowClient

    from trainworks.tracking.mlflow_tracker import MlflowTracker

    monkeypatch.chdir(tmp_path)
    server = MlflowServer(tmp_path)
    server.start()
    try:
        tracker = MlflowTracker(server.uri)
        waits: list[float] = []
        log_epoch = tracker.log_epoch

        def timed_log_epoch(*args, **kwargs) -> None:
            began = time.perf_counter()
            log_epoch(*args, **kwargs)
            waits.append(time.perf_counter() - began)

        monkeypatch.setattr(tracker, "log_epoch", timed_log_epoch)
        outage = Outage(server)
        spec = make_spec(training={"epochs": EPOCHS}, tracking={"experiment": "tests-outage", "log_model": False})
        summary = run_job(spec, RunOptions(JOBS / "quickstart.yaml", inline=True, extra_hooks=(outage,)), tracker,
                          Recording())
        outage.restarter.join(timeout=600)

        during = [end for end in outage.epoch_ends if outage.down_at < end < outage.up_at]
        assert len(during) == EPOCHS - 2  # epochs 3..8 trained while the server was away
        assert outage.up_at - outage.down_at >= OUTAGE_S
        assert max(waits) < 0.1  # logging an epoch only queues it
        assert tracker.buffer.retries > 0  # the sender did meet the outage

        client = MlflowClient(server.uri)
        run = client.get_run(summary.run_id)
        assert run.info.status == "FINISHED"
        for metric in EPOCH_METRICS:
            assert metric_steps(client, summary.run_id, metric) == list(range(1, EPOCHS + 1)), metric
        assert run.data.metrics["final_val_accuracy"] == pytest.approx(summary.metrics["val_accuracy"])
    finally:
        server.stop()
