"""deploy/docker-compose.yml, checked offline: the Compose Specification's schema, then the security choices."""

from __future__ import annotations

import configparser
import copy
import re
import shlex
import subprocess

import jsonschema
import pytest

from tests.deploy.files import (DEPLOY, ROOT, SECRET_NAME, MissingVariable, compose, compose_schema, compose_values,
                                env_example, interpolate, references, required_references)

TRAINWORKS_SERVICES = ("mlflow", "mlflow-account", "ray-head", "ray-worker", "ray-worker-gpu")
RAY_SERVICES = ("ray-head", "ray-worker", "ray-worker-gpu")


def service(name: str) -> dict:
    return compose()["services"][name]


def command_args(name: str) -> list[str]:
    command = service(name)["command"]
    return shlex.split(command) if isinstance(command, str) else command


def test_compose_file_fits_the_compose_specification() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in jsonschema.Draft202012Validator(compose_schema()).iter_errors(compose())]
    assert errors == []


def test_the_schema_catches_a_misspelt_service_key() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["ray-head"]["healthchek"] = broken["services"]["ray-head"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError, match="healthchek"):
        jsonschema.validate(broken, compose_schema(), cls=jsonschema.Draft202012Validator)


def published_ports() -> dict[str, list[str]]:
    """Service -> its published ports in short syntax (the file uses no other)."""
    return {name: spec["ports"] for name, spec in compose()["services"].items() if spec.get("ports")}


def test_only_mlflow_and_the_ray_jobs_api_are_published() -> None:
    assert {name: [p.rsplit(":", 1)[-1] for p in ports] for name, ports in published_ports().items()} == {
        "mlflow": ["5000"], "ray-head": ["8265"]}


def test_every_published_port_binds_localhost_only() -> None:
    for name, ports in published_ports().items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:") and port.count(":") == 2, (name, port)


def test_databases_and_object_store_sit_on_an_internal_network_only() -> None:
    spec = compose()
    assert spec["networks"]["backend"] == {"internal": True}
    for name in ("postgres", "minio", "minio-init"):
        assert spec["services"][name]["networks"] == ["backend"], name
        assert "ports" not in spec["services"][name]


def test_mlflow_serves_s3_artifacts_from_minio_with_authentication_on() -> None:
    args, env = command_args("mlflow"), service("mlflow")["environment"]
    assert args[:2] == ["mlflow", "server"]
    assert "--app-name=basic-auth" in args
    assert "--serve-artifacts" in args
    destination = next(a.split("=", 1)[1] for a in args if a.startswith("--artifacts-destination="))
    assert destination.startswith("s3://${S3_BUCKET")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert env["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert service("mlflow")["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}


def test_mlflow_auth_config_keeps_its_user_database_on_the_mounted_volume() -> None:
    env = service("mlflow")["environment"]
    ini_in_image = env["MLFLOW_AUTH_CONFIG_PATH"]
    assert ini_in_image == "/app/deploy/mlflow/basic_auth.ini"  # COPY deploy/mlflow /app/deploy/mlflow
    config = configparser.ConfigParser()
    config.read(DEPLOY / "mlflow" / "basic_auth.ini")
    database = config["mlflow"]["database_uri"]
    assert database.startswith("sqlite:////")
    mounts = {volume.split(":")[1] for volume in service("mlflow")["volumes"]}
    assert database.removeprefix("sqlite:///").rsplit("/", 1)[0] in mounts
    assert config["mlflow"]["default_permission"] in {"READ", "NO_PERMISSIONS"}
    assert "admin_password" not in config["mlflow"]  # it comes from MLFLOW_AUTH_ADMIN_PASSWORD
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")


def test_mlflow_answers_to_the_host_name_its_clients_use() -> None:
    args = command_args("mlflow")
    allowed = next(a.split("=", 1)[1] for a in args if a.startswith("--allowed-hosts=")).split(",")
    client_host = re.sub(r"^https?://", "", service("ray-head")["environment"]["MLFLOW_TRACKING_URI"])
    published = published_ports()["mlflow"][0].split(":")
    assert client_host in allowed  # else MLflow answers 403 to the Ray nodes
    assert f"127.0.0.1:{published[1]}" in allowed and f"localhost:{published[1]}" in allowed


def test_ray_nodes_use_token_authentication_and_log_to_mlflow_with_their_own_account() -> None:
    for name in RAY_SERVICES:
        env = service(name)["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), name
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert env["MLFLOW_TRACKING_USERNAME"].startswith("${TRAINWORKS_MLFLOW_USERNAME"), name
        assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${TRAINWORKS_MLFLOW_PASSWORD:?"), name
        assert "MLFLOW_ADMIN_PASSWORD" not in str(env), name  # the cluster never holds the admin password
        assert any(volume == "checkpoints:/shared" for volume in service(name)["volumes"]), name
    head = command_args("ray-head")
    assert {"--head", "--block", "--port=6379", "--dashboard-host=0.0.0.0", "--dashboard-port=8265"} <= set(head)
    for worker in ("ray-worker", "ray-worker-gpu"):
        assert "--address=ray-head:6379" in command_args(worker)
        assert service(worker)["depends_on"]["ray-head"] == {"condition": "service_healthy"}


def test_the_account_service_creates_the_cluster_account_with_the_admin_credentials() -> None:
    env = service("mlflow-account")["environment"]
    assert command_args("mlflow-account") == ["python", "/app/deploy/mlflow/create_account.py"]
    assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")
    assert env["TRAINWORKS_MLFLOW_PASSWORD"] == service("ray-head")["environment"]["MLFLOW_TRACKING_PASSWORD"]
    assert service("ray-head")["depends_on"]["mlflow-account"] == {"condition": "service_completed_successfully"}


def test_no_secret_value_is_written_in_the_compose_file() -> None:
    for name, spec in compose()["services"].items():
        for key, value in spec.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{name}.{key} = {value!r}"
    # A password inside a URL (MLflow's PostgreSQL address) must come from a secret variable too.
    sentinels = {name: f"secret-{name}" if SECRET_NAME.search(name) else value or "x"
                 for name, value in env_example().items()}
    rendered = [interpolate(text, sentinels) for text in compose_values()]
    url_passwords = [m for text in rendered for m in re.findall(r"://[^:/@]+:([^@]+)@", text)]
    assert url_passwords == ["secret-POSTGRES_PASSWORD"]


def test_compose_refuses_to_start_until_every_secret_is_set() -> None:
    secrets = {name for name in env_example() if SECRET_NAME.search(name)}
    assert secrets == required_references(compose_values())
    filled = {name: value or "x" for name, value in env_example().items()}
    rendered = [interpolate(text, filled) for text in compose_values()]  # everything set: renders
    assert "--artifacts-destination=s3://trainworks/mlflow" in rendered
    for secret in secrets:
        with pytest.raises(MissingVariable, match=secret):
            [interpolate(text, {**filled, secret: ""}) for text in compose_values()]


def test_env_example_documents_every_variable_and_holds_no_secret() -> None:
    example = env_example()
    assert references(compose_values()) <= set(example)
    assert {name: value for name, value in example.items() if SECRET_NAME.search(name) and value} == {}


def test_the_real_env_file_is_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT)
    kept = subprocess.run(["git", "check-ignore", "-q", "deploy/.env.example"], cwd=ROOT)
    assert (ignored.returncode, kept.returncode) == (0, 1)


def test_every_trainworks_service_builds_from_the_one_dockerfile() -> None:
    builds = {name: service(name)["build"] for name in TRAINWORKS_SERVICES}
    assert {(b["context"], b["dockerfile"]) for b in builds.values()} == {("..", "Dockerfile")}
    assert (DEPLOY / ".." / "Dockerfile").resolve() == ROOT / "Dockerfile"
    images = {name: service(name)["image"] for name in TRAINWORKS_SERVICES}
    assert all(re.fullmatch(r"trainworks(-cuda)?:\$\{TRAINWORKS_VERSION:-[\d.]+\}", image) for image in images.values())
    others = {name: spec["image"] for name, spec in compose()["services"].items() if name not in TRAINWORKS_SERVICES}
    assert "build" not in str(others) and not any(image.endswith(":latest") or ":" not in image
                                                  for image in others.values())


def test_gpu_worker_is_a_profile_with_cuda_pytorch_and_a_gpu_reservation() -> None:
    gpu = service("ray-worker-gpu")
    assert gpu["profiles"] == ["gpu"]
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d+", gpu["build"]["args"]["TORCH_INDEX_URL"])
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "profiles" not in service("ray-worker")


def test_services_wait_for_what_they_need_to_be_healthy() -> None:
    for name in ("postgres", "minio", "mlflow", "ray-head"):
        assert service(name)["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert service("mlflow")["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert service("minio-init")["depends_on"]["minio"] == {"condition": "service_healthy"}
    # /health and /api/gcs_healthz are the paths that answer without credentials
    assert "127.0.0.1:5000/health" in str(service("mlflow")["healthcheck"]["test"])
    assert "127.0.0.1:8265/api/gcs_healthz" in str(service("ray-head")["healthcheck"]["test"])


def test_the_readme_fills_in_exactly_the_secrets_env_example_asks_for() -> None:
    readme = (DEPLOY / "README.md").read_text()
    loop = re.search(r"for name in (.*?); do", readme, re.DOTALL).group(1)
    assert set(loop.replace("\\", " ").split()) == {name for name in env_example() if SECRET_NAME.search(name)}
