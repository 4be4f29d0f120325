"""The cluster walk-through with real parts: PostgreSQL, an S3 server (moto), `mlflow server` on both, a Ray head.

`trainworks submit --follow` sends the quick start through the Ray Jobs API; the job must
succeed, its run and registered model must be on the MLflow server and its artifacts in the
bucket; a submit without the token is refused with the fix; jobs are listed, followed and
stopped; the model is promoted and predicted from on the server.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.cluster.processes import loopback_only_network
from tests.cluster.services import (S3, RayHead, clean_env, ensure_postgres, free_port, mlflow_server, postgres,
                                    ray_head, s3)
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
TRAINWORKS = [sys.executable, "-m", "trainworks.cli"]


@dataclass(frozen=True)
class Cluster:
    head: RayHead
    tracking_uri: str
    store: S3
    folder: Path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    ensure_postgres()
    with loopback_only_network():
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        # As in deploy/docker-compose.yml the Ray nodes carry the tracking URI (jobs inherit it); the
        # head starts first, and the store and MLflow server come up while it does.
        with ray_head(folder, clean_env(MLFLOW_TRACKING_URI=uri)) as head, postgres() as database, \
                s3(folder) as store, mlflow_server(folder, database, store, port):
            head.wait()
            yield Cluster(head, uri, store, folder)
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # where local Ray sessions look
    assert not (current.is_file() and current.read_text().strip().endswith(f":{head.gcs_port}"))


def trainworks(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """The command as a user runs it from the checkout (no tracking URI, no Ray settings unless given)."""
    return subprocess.run([*TRAINWORKS, *args], cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT / "platform"), **env),
                          capture_output=True, text=True, timeout=timeout)


def quickstart(cluster: Cluster, *more: str) -> list[str]:
    return ["submit", "jobs/quickstart.yaml", "--address", cluster.head.jobs_address, "--set", "training.epochs=1",
            "--set", f"checkpoint.storage_path={cluster.folder / 'checkpoints'}", *more]


def test_submit_without_the_token_is_refused_with_the_fix(cluster: Cluster) -> None:
    refused = trainworks(*quickstart(cluster), timeout=120)
    assert refused.returncode == 1
    assert f"the Ray cluster at {cluster.head.jobs_address} refused the request" in refused.stderr
    assert "export RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN" in refused.stderr
    wrong = trainworks(*quickstart(cluster), timeout=120, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 32)
    assert wrong.returncode == 1 and "is missing or is not this cluster's" in wrong.stderr


def test_the_quick_start_submitted_to_the_cluster_lands_on_the_mlflow_server_and_in_s3(cluster: Cluster) -> None:
    result = trainworks(*quickstart(cluster, "--follow"), RAY_AUTH_MODE="token")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    job_id = result.stdout.split()[1]
    assert result.stdout.startswith(f"submitted {job_id} to {cluster.head.jobs_address}")
    assert "epoch 1/1" in result.stdout and result.stdout.rstrip().endswith(f"job {job_id} SUCCEEDED")

    from mlflow import MlflowClient

    client = MlflowClient(cluster.tracking_uri)
    [run] = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["trainworks.runtime"].startswith("ray cluster at ")
    assert [point.step for point in client.get_metric_history(run.info.run_id, "val_loss")] == [1]
    [version] = client.search_model_versions("name = 'digits-cnn'")
    assert version.run_id == run.info.run_id
    keys = cluster.store.keys()
    assert f"mlflow/{run.info.experiment_id}/{run.info.run_id}/artifacts/spec/job.yaml" in keys
    assert any(key.endswith("/artifacts/data/model.pt2") for key in keys)
    assert any(key.endswith("/extra_files/preprocessing.json") for key in keys)

    listing = trainworks("jobs", "list", "--address", cluster.head.jobs_address, RAY_AUTH_MODE="token")
    assert f"{job_id}  SUCCEEDED" in listing.stdout
    logs = trainworks("jobs", "logs", job_id, "--address", cluster.head.jobs_address, RAY_AUTH_MODE="token")
    assert f"done: run {run.info.run_id}" in logs.stdout


def test_promote_race_rollback_and_predict_on_the_server(cluster: Cluster, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from trainworks.tracking.registry import ModelRegistry

    server, client = {"MLFLOW_TRACKING_URI": cluster.tracking_uri}, MlflowClient(cluster.tracking_uri)
    [first] = _versions(cluster)
    assert ModelRegistry(client).promote("digits-cnn", "val_accuracy").version == first  # no champion yet
    logged = client.get_model_version("digits-cnn", first)
    for _ in range(2):  # two equal challengers (the same model), both better than the champion
        client.create_model_version("digits-cnn", logged.source, logged.run_id, tags={"val_accuracy": "0.999"},
                                    model_id=logged.source.removeprefix("models:/"))
    racers = [subprocess.Popen([*TRAINWORKS, "promote", "digits-cnn", "--metric", "val_accuracy", "--version", v],
                               cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT / "platform"), **server),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for v in ("2", "3")]
    try:
        outcomes = [(racer.wait(timeout=300), racer.stdout.read(), racer.stderr.read()) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
    assert sorted(code for code, _, _ in outcomes) == [0, 1], outcomes
    [(_, _, error)] = [outcome for outcome in outcomes if outcome[0] == 1]
    assert "another promotion of 'digits-cnn' won" in error or "does not beat the champion" in error
    aliases = client.get_registered_model("digits-cnn").aliases
    winner = aliases["champion"]
    assert aliases["previous"] == first and winner in ("2", "3")

    rolled_back = trainworks("rollback", "digits-cnn", **server)
    assert rolled_back.stdout.startswith(f"digits-cnn: version {first} is the champion again"), rolled_back.stderr
    assert client.get_registered_model("digits-cnn").aliases == {"champion": first, "previous": winner}
    listing = trainworks("models", "digits-cnn", **server).stdout.splitlines()
    assert [line.split()[:2] for line in listing if "[" in line] == [[f"v{winner}", "[previous]"],
                                                                     [f"v{first}", "[champion]"]], listing

    from sklearn.datasets import load_digits

    np.save(tmp_path / "digits.npy", (load_digits().images[:40] / 16.0).astype(np.float32))
    result = trainworks("predict", "models:/digits-cnn@champion", str(tmp_path / "digits.npy"), "--out",
                        str(tmp_path / "p.parquet"), **server)
    assert result.returncode == 0, result.stderr[-3000:]
    predicted = pq.read_table(tmp_path / "p.parquet").column("prediction").to_pylist()
    assert np.mean(np.array(predicted) == load_digits().target[:40].astype(str)) > 0.8


def _versions(cluster: Cluster) -> list[str]:
    from mlflow import MlflowClient

    return [v.version for v in MlflowClient(cluster.tracking_uri).search_model_versions("name = 'digits-cnn'")]


def test_a_followed_job_that_is_stopped_exits_non_zero(cluster: Cluster) -> None:
    command = [*TRAINWORKS, *quickstart(cluster, "--follow", "--set", "training.epochs=40")]
    follower = subprocess.Popen(command, cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT / "platform"),
                                                                 RAY_AUTH_MODE="token"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job_id, seen = None, []
        for line in follower.stdout:  # stop it once its command runs on the cluster
            seen.append(line)
            job_id = job_id or (line.split()[1] if line.startswith("submitted ") else None)
            if line.startswith("Running entrypoint for job"):
                break
        stopped = trainworks("jobs", "stop", job_id, "--address", cluster.head.jobs_address, RAY_AUTH_MODE="token")
        assert stopped.returncode == 0 and f"{job_id}: stopping" in stopped.stdout, "".join(seen)
        output, _ = follower.communicate(timeout=300)
    finally:
        follower.kill()
    assert follower.returncode == 1 and f"job {job_id} STOPPED" in output
    assert "epoch 40/40" not in output
    status = trainworks("jobs", "status", job_id, "--address", cluster.head.jobs_address, RAY_AUTH_MODE="token")
    assert status.stdout.startswith(f"{job_id}  STOPPED")
