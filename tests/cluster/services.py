"""Real services for the cluster tests, each started privately on free 127.0.0.1 ports and stopped exactly.

PostgreSQL (Debian's package: a private cluster made with initdb in a temp folder, run as the
`postgres` user when the tests run as root), an S3 server (moto's server mode), `mlflow server`
on both (PostgreSQL backend store, artifacts in S3 served through the server), and a Ray head
(`ray start --head --block`, dashboard and Jobs API on, token authentication as Ray 2.60 sets it).
Each is stopped with everything it started (processes.py); the fixture runs them in a
loopback-only network.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.cluster.processes import process, process_table, wait_until

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



# ---------------------------------------------------------------- PostgreSQL


def _find_postgres_binary(name: str) -> str | None:
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


def install_postgres() -> None:
    """Debian's PostgreSQL, without the `main` cluster and service its package would create and start."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("PostgreSQL (initdb, postgres) is missing and this is not root on Debian: install it "
                           "first (sudo apt-get install -y postgresql)")
    settings = Path("/etc/postgresql-common/createcluster.conf")
    if not settings.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text("create_main_cluster = false\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def ensure_postgres() -> None:
    """Install PostgreSQL now if it is missing (before the tests move into a network without the internet)."""
    for name in ("initdb", "postgres"):
        postgres_binary(name)


def postgres_binary(name: str) -> str:
    """Debian keeps initdb and postgres in /usr/lib/postgresql/<version>/bin, off the PATH; installed if missing."""
    found = _find_postgres_binary(name)
    if found is None:
        install_postgres()
        found = _find_postgres_binary(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing even after apt-get install -y postgresql")
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

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
                            region_name=S3_KEYS["AWS_DEFAULT_REGION"])

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
def mlflow_server(folder: Path, database: Postgres, store: S3, port: int) -> Iterator[str]:
    """`mlflow server` on PostgreSQL with artifacts in S3 served through it; yields its http:// URI."""
    env = clean_env(MLFLOW_BACKEND_STORE_URI=database.url, MLFLOW_S3_ENDPOINT_URL=store.endpoint,
                    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **S3_KEYS)
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
    process: subprocess.Popen
    log: Path

    def wait(self) -> None:
        """Until the Jobs API answers (the head starts while the other services do)."""
        wait_until(lambda: answers(f"{self.jobs_address}/api/gcs_healthz"), "ray head", self.process, self.log,
                   timeout=240)


@contextmanager
def ray_head(folder: Path, env: dict[str, str], cpus: int = 3) -> Iterator[RayHead]:
    """`ray start --head --block` with the dashboard (Jobs API) on, every port its own; `env` is the nodes'.

    It is yielded as soon as it is started: `head.wait()` before using it.

    Its temp dir is private (short: Unix socket paths are limited to 107 bytes), so the head's
    `ray_current_cluster` file never lands in /tmp/ray where local Ray sessions would find it, and
    every process of the head names it: stopping the head stops exactly those (not `ray stop`).
    """
    ports = {name: free_port() for name in ("port", "dashboard-port", "ray-client-server-port",
                                            "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                            "runtime-env-agent-port", "metrics-export-port", "node-manager-port",
                                            "object-manager-port")}
    temp_dir = tempfile.mkdtemp(prefix="tw-ray-")
    command = [str(VENV_BIN / "ray"), "start", "--head", "--block", "--include-dashboard=true",
               "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", f"--num-cpus={cpus}",
               "--disable-usage-stats", f"--temp-dir={temp_dir}", *(f"--{name}={port}" for name, port in ports.items())]
    try:
        with process(command, folder / "ray-head.log", env, cwd=folder, marker=temp_dir, grace=3) as server:
            yield RayHead(ports["port"], f"http://127.0.0.1:{ports['dashboard-port']}", server, folder / "ray-head.log")
        left = {pid: command for pid, (_, command) in process_table().items() if temp_dir in command}
        if left:
            raise RuntimeError(f"the Ray head's processes outlived it: {left}")
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
