"""deploy/mlflow/ against a real `mlflow server --app-name basic-auth`: the auth config the image ships, the admin
bootstrapped from environment variables, and the cluster account created by create_account.py (run as compose and
the Kubernetes Job run it: its main() with their environment). SQLite and a local folder stand in for PostgreSQL
and S3."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

import pytest
import requests

from tests.deploy.files import DEPLOY

ADMIN = ("admin", "admin-password-0123456789")
REQUEST_TIMEOUT = 60  # seconds: each signed-in request checks a PBKDF2 hash, slow on a busy machine
ACCOUNT_SCRIPT = DEPLOY / "mlflow" / "create_account.py"

pytestmark = pytest.mark.slow  # one real MLflow server: 20-30 s to start on 2 busy cores; about 1 minute in all


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A basic-auth MLflow server configured like deploy/'s, on 127.0.0.1; yields its URL."""
    folder = tmp_path_factory.mktemp("mlflow-auth")
    ini = (DEPLOY / "mlflow" / "basic_auth.ini").read_text()
    assert "sqlite:////var/lib/mlflow-auth/basic_auth.db" in ini
    (folder / "auth.ini").write_text(ini.replace("/var/lib/mlflow-auth", str(folder)))
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(folder / "auth.ini"), "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
           "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1], "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-csrf-key",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [sys.executable, "-m", "mlflow", "server", "--host=127.0.0.1", f"--port={port}", "--workers=1",
               "--app-name=basic-auth", "--serve-artifacts", f"--artifacts-destination={folder / 'artifacts'}",
               f"--backend-store-uri=sqlite:///{folder / 'mlflow.db'}",
               f"--allowed-hosts=mlflow:5000,localhost:{port},127.0.0.1:{port}"]
    log = folder / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, healthy = time.monotonic() + 180, False
        while not healthy and time.monotonic() < deadline and process.poll() is None:
            try:
                healthy = requests.get(f"{url}/health", timeout=REQUEST_TIMEOUT).ok
            except requests.RequestException:  # not listening yet, or too busy to answer in time
                time.sleep(0.5)
        assert healthy, f"mlflow server not healthy (exit status {process.poll()}):\n{log.read_text()[-3000:]}"
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its workers: the group this fixture started
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=REQUEST_TIMEOUT)


def load_account_script():
    """deploy/mlflow/create_account.py as a module (the image runs it as a script; main() is the same code)."""
    spec = importlib.util.spec_from_file_location("create_account", ACCOUNT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_account_script(url: str, password: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                       username: str = "trainworks") -> tuple[int, str, str]:
    """main() with the environment compose and the Kubernetes Job give it: (exit status, stdout, stderr)."""
    for name, value in {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": ADMIN[0],
                        "MLFLOW_TRACKING_PASSWORD": ADMIN[1], "TRAINWORKS_MLFLOW_USERNAME": username,
                        "TRAINWORKS_MLFLOW_PASSWORD": password}.items():
        monkeypatch.setenv(name, value)
    status = load_account_script().main()
    out, err = capsys.readouterr()
    return status, out.strip(), err


def search(url: str, auth: tuple[str, str] | None, host: str | None = None) -> int:
    headers = {"Host": host} if host else {}
    return requests.get(f"{url}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, auth=auth,
                        headers=headers, timeout=REQUEST_TIMEOUT).status_code


def test_server_asks_everyone_for_credentials_but_health(server: str) -> None:
    assert requests.get(f"{server}/health", timeout=REQUEST_TIMEOUT).status_code == 200
    assert search(server, None) == 401
    assert search(server, (ADMIN[0], "wrong")) == 401
    assert search(server, ADMIN) == 200


def test_server_refuses_host_names_it_was_not_given(server: str) -> None:
    assert search(server, ADMIN, host="evil.example:5000") == 403
    assert search(server, ADMIN, host="mlflow:5000") == 200  # the name the compose services use


def test_account_script_creates_an_account_that_can_log_runs_then_follows_password_changes(
        server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    status, out, err = run_account_script(server, "first-password-0123", monkeypatch, capsys)
    assert (status, out) == (0, "MLflow account 'trainworks' created"), err
    account = ("trainworks", "first-password-0123")
    created = requests.post(f"{server}/api/2.0/mlflow/experiments/create", json={"name": "account-test"},
                            auth=account, timeout=REQUEST_TIMEOUT)
    assert created.status_code == 200, created.text
    run = requests.post(f"{server}/api/2.0/mlflow/runs/create",
                        json={"experiment_id": created.json()["experiment_id"]}, auth=account, timeout=REQUEST_TIMEOUT)
    assert run.status_code == 200, run.text

    status, out, err = run_account_script(server, "second-password-4567", monkeypatch, capsys)
    assert (status, out) == (0, "MLflow account 'trainworks' updated"), err
    assert search(server, ("trainworks", "second-password-4567")) == 200
    assert search(server, account) == 401


def test_account_script_refuses_to_hand_the_cluster_the_admin_account(
        server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    status, _, err = run_account_script(server, "whatever-0123", monkeypatch, capsys, username=ADMIN[0])
    assert status == 2 and "must not be the admin account" in err
    assert search(server, ADMIN) == 200  # the admin password is unchanged
