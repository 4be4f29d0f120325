"""The `trainworks` command as users run it: real processes, real stores, exit codes and output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import JOBS

TRAINWORKS = [sys.executable, "-m", "trainworks.cli"]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "RAY_ADDRESS", "RAY_AUTH_MODE"}}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def trainworks(*args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess:
    return subprocess.run([*TRAINWORKS, *args], cwd=cwd, env={**clean_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def test_validate_misspelt_model_prints_path_and_valid_names_and_creates_no_run(tmp_path: Path) -> None:
    lines = (JOBS / "quickstart.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith("name: guide_cnn"))
    lines[line - 1] = lines[line - 1].replace("guide_cnn", "guide_cnnn")
    (tmp_path / "bad.yaml").write_text("\n".join(lines))
    result = trainworks("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    [message] = result.stderr.splitlines()
    assert message.startswith(f"bad.yaml:{line}: model.name: unknown model 'guide_cnnn' (did you mean 'guide_cnn'?); "
                              "valid: autoencoder, dcgan, gru, guide_cnn, ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no mlruns.db, no checkpoints


def test_run_with_a_bad_spec_exits_2_before_ray_or_mlflow(tmp_path: Path) -> None:
    result = trainworks("run", str(JOBS / "quickstart.yaml"), "--set", "training.epochs=-1", cwd=tmp_path)
    assert result.returncode == 2 and "training.epochs: expected a value greater than 0; got -1" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_validate_good_job_reports_the_data(tmp_path: Path) -> None:
    result = trainworks("validate", str(JOBS / "penguins_mlp.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "258 training and 86 validation examples, input shape (9,), 3 outputs" in result.stdout


def test_list_and_schema(tmp_path: Path) -> None:
    listing = trainworks("list", "models", cwd=tmp_path)
    assert listing.returncode == 0 and "guide_cnn" in listing.stdout and "resnet18" in listing.stdout
    schema = json.loads(trainworks("schema", cwd=tmp_path).stdout)
    assert schema["title"] == "JobSpec" and "training" in schema["required"]
    assert trainworks("list", "widgets", cwd=tmp_path).returncode == 2
    settings = trainworks("list", "settings", cwd=tmp_path).stdout
    assert "training.precision" in settings and "training.grad_accumulation" in settings


def test_inline_run_of_the_penguins_job_registers_its_model(tmp_path: Path) -> None:
    result = trainworks("run", str(JOBS / "penguins_mlp.yaml"), "--inline", "--set", "training.epochs=5",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 5
    assert any("registered as penguins-mlp version 1" in line for line in lines)
    assert (tmp_path / "mlruns.db").exists() and (tmp_path / "mlartifacts").is_dir()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_serves_the_default_store_on_localhost(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([*TRAINWORKS, "ui", "--port", str(port)], cwd=tmp_path, env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert f"MLflow UI: http://127.0.0.1:{port}" in server.stdout.readline()
        deadline = time.time() + 180  # a busy 2-core machine starts the server slowly
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.time() < deadline, "the MLflow UI did not come up"
                time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_quickstart_from_the_command_line_reaches_097_and_its_model_predicts(tmp_path: Path) -> None:
    result = trainworks("run", str(JOBS / "quickstart.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sum(line.startswith("epoch ") for line in result.stdout.splitlines()) == 8
    import mlflow
    import mlflow.pytorch
    import torch

    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client = mlflow.MlflowClient(store)
    run = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.metrics["val_accuracy"] >= 0.97
    assert run.data.tags["trainworks.workers"] == "2"
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    model = mlflow.pytorch.load_model("models:/digits-cnn/1")
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 10)


@pytest.mark.slow
def test_ctrl_c_on_a_ray_run_then_resume_logs_every_epoch_once(tmp_path: Path) -> None:
    job = [str(JOBS / "quickstart.yaml"), "--set", "training.epochs=5", "--set", "scaling.num_workers=1"]
    process = subprocess.Popen([*TRAINWORKS, "run", *job], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    run_id = None
    for line in process.stdout:
        if line.startswith("run "):
            run_id = line.split()[1]
        if line.startswith("epoch 2/5"):
            process.send_signal(signal.SIGINT)
            break
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 130, errors[-2000:]
    assert f"--resume {run_id}" in errors
    resumed = trainworks("run", *job, "--resume", run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    for metric in ("train_loss", "val_accuracy"):
        assert sorted(p.step for p in client.get_metric_history(run_id, metric)) == [1, 2, 3, 4, 5]
    assert client.get_run(run_id).info.status == "FINISHED"


def test_unreachable_cluster_fails_fast_and_leaves_no_run(tmp_path: Path) -> None:
    result = trainworks("run", str(JOBS / "quickstart.yaml"), "--address", f"127.0.0.1:{free_port()}", cwd=tmp_path,
                        timeout=120)
    assert result.returncode == 1
    assert "cannot reach the Ray cluster at 127.0.0.1:" in result.stderr and "Is it running" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_run_on_a_ray_cluster_started_with_ray_start(tmp_path: Path) -> None:
    port = free_port()
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=2", "--include-dashboard=false"],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and head.poll() is None, "ray start --head did not come up"
                time.sleep(1)
        job = [str(JOBS / "quickstart.yaml"), "--address", f"127.0.0.1:{port}", "--set", "training.epochs=2"]
        refused = trainworks("run", *job, cwd=tmp_path, timeout=300)  # `ray start` turned token auth on
        assert refused.returncode == 1 and "set RAY_AUTH_MODE=token" in refused.stderr
        assert list(tmp_path.iterdir()) == []
        result = trainworks("run", *job, cwd=tmp_path, env={"RAY_AUTH_MODE": "token"})
        assert result.returncode == 0, result.stderr[-3000:]
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
        run = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])[0]
        assert run.data.tags["trainworks.runtime"] == f"ray cluster at 127.0.0.1:{port}"
        assert sorted(p.step for p in client.get_metric_history(run.info.run_id, "val_loss")) == [1, 2]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        stale = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if stale.is_file() and stale.read_text().strip().endswith(f":{port}"):
            stale.unlink()  # a head killed by a signal leaves it behind
