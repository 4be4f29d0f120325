"""Real services for the cluster tests, each started privately on free 127.0.0.1 ports and stopped exactly.

PostgreSQL (Debian's package: a private cluster made with initdb in a temp folder, run as the
`postgres` user when the tests run as root), an S3 server (moto's server mode), `mlflow server`
on both (PostgreSQL backend store, artifacts in S3 served through the server), and a Ray head
(`ray start --head --block`, dashboard and Jobs API on, token authentication as Ray 2.60 sets it).
Every process runs in its own session so that exactly it (and its children) can be killed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

VENV_BIN = Path(sys.executable).parent
BUCKET = "trainworks-test"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that points at another store or cluster."""
    dropped = {"MLFLOW_TRACKING_URI", "RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # `python` in a job is this venv's
    return {**env, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0",
            **extra}


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen | None, log: Path | None,
               timeout: float = 180) -> None:
    """Poll until `ready()`; fail with the process's log if it died or the time ran out."""
    deadline = time.time() + timeout
    while not ready():
        died = process is not None and process.poll() is not None
        if died or time.time() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} did not come up ({'exited' if died else 'timed out'}):\n{tail}")
        time.sleep(0.5)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def process(command: list[str], log: Path, env: dict[str, str], cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """A process in its own session, output to `log`; on exit its whole process group gets SIGTERM, then SIGKILL."""
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                 start_new_session=True)
    try:
        yield child
    finally:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
            try:
                child.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


# ---------------------------------------------------------------- PostgreSQL


def postgres_binary(name: str) -> str:
    """Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, off the PATH."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: apt-get install -y postgresql (.ci/run does this)")
    return found


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its commands as the `postgres` user the Debian package made."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass(frozen=True)
class Postgres:
    url: str  # postgresql+psycopg2://... with the password: pass it through the environment only
    port: int


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster with a password-protected `mlflow` superuser and database.

    Its folder is a fresh one under the system temp dir (pytest's are private to root, and the
    server runs as `postgres` when the tests run as root), removed afterwards.
    """
    folder = Path(tempfile.mkdtemp(prefix="trainworks-postgres-"))
    try:
        os.chmod(folder, 0o755)
        data, password = folder / "data", "pw-" + os.urandom(8).hex()
        (folder / "pwfile").write_text(password + "\n")
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (folder, folder / "pwfile"):
                os.chown(path, user.pw_uid, user.pw_gid)
        made = subprocess.run(as_postgres_user([postgres_binary("initdb"), "-D", str(data), "-U", "mlflow",
                                                f"--pwfile={folder / 'pwfile'}", "--auth=scram-sha-256", "-E",
                                                "UTF8"]), capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        port = free_port()
        command = as_postgres_user([postgres_binary("postgres"), "-D", str(data), "-p", str(port),
                                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}",
                                    "-c", "fsync=off"])
        with process(command, folder / "postgres.log", clean_env()) as server:
            wait_until(lambda: listening(port), "PostgreSQL", server, folder / "postgres.log")
            import psycopg2

            connection = psycopg2.connect(host="127.0.0.1", port=port, user="mlflow", password=password,
                                          dbname="postgres")
            connection.autocommit = True
            connection.cursor().execute("CREATE DATABASE mlflow")
            connection.close()
            yield Postgres(f"postgresql+psycopg2://mlflow:{password}@127.0.0.1:{port}/mlflow", port)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- S3 (moto)


@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **{
            "aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
            "region_name": S3_KEYS["AWS_DEFAULT_REGION"]})

    def keys(self, bucket: str = BUCKET) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextmanager
def s3(folder: Path) -> Iterator[S3]:
    """moto's S3 in server mode with the test bucket created."""
    port = free_port()
    with process([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], folder / "moto.log",
                 clean_env(**S3_KEYS)) as server:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/moto-api/"), "moto S3", server, folder / "moto.log")
        store = S3(f"http://127.0.0.1:{port}")
        store.client().create_bucket(Bucket=BUCKET)
        yield store


# ---------------------------------------------------------------- MLflow server


@contextmanager
def mlflow_server(folder: Path, database: Postgres, store: S3) -> Iterator[str]:
    """`mlflow server` on PostgreSQL with artifacts in S3 served through it; yields its http:// URI."""
    port = free_port()
    env = clean_env(MLFLOW_BACKEND_STORE_URI=database.url, MLFLOW_S3_ENDPOINT_URL=store.endpoint, **S3_KEYS)
    command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--serve-artifacts", "--artifacts-destination", f"s3://{BUCKET}/mlflow"]
    with process(command, folder / "mlflow.log", env, cwd=folder) as server:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), "mlflow server", server,
                   folder / "mlflow.log", timeout=300)
        yield f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- Ray head


@dataclass(frozen=True)
class RayHead:
    gcs_port: int
    jobs_address: str  # http://127.0.0.1:<dashboard port>


@contextmanager
def ray_head(folder: Path, env: dict[str, str], cpus: int = 3) -> Iterator[RayHead]:
    """`ray start --head --block` with the dashboard (Jobs API) on, every port its own; `env` is the nodes'."""
    ports = {name: free_port() for name in ("port", "dashboard-port", "ray-client-server-port",
                                            "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                            "runtime-env-agent-port", "metrics-export-port", "node-manager-port",
                                            "object-manager-port")}
    command = [str(VENV_BIN / "ray"), "start", "--head", "--block", "--include-dashboard=true",
               "--dashboard-host=127.0.0.1", f"--num-cpus={cpus}", "--disable-usage-stats",
               *(f"--{name}={port}" for name, port in ports.items())]
    head = RayHead(ports["port"], f"http://127.0.0.1:{ports['dashboard-port']}")
    try:
        with process(command, folder / "ray-head.log", env, cwd=folder) as server:
            wait_until(lambda: answers(f"{head.jobs_address}/api/gcs_healthz"), "ray head", server,
                       folder / "ray-head.log", timeout=240)
            yield head
    finally:
        stale = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if stale.is_file() and stale.read_text().strip().endswith(f":{ports['port']}"):
            stale.unlink()  # a head killed by a signal leaves it behind
