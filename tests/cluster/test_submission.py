"""What `trainworks submit` hands the Ray Jobs API, checked without a cluster (the real one is in test_on_a_cluster)."""

from __future__ import annotations

import shlex
import zipfile
from pathlib import Path

import pytest
from ray._private.runtime_env.packaging import create_package

from tests.conftest import JOBS, ROOT
from trainworks.runtime.submit import (EXCLUDES, SubmitError, authentication_fix, build_submission, jobs_address,
                                       project_root, unreachable_tracking_uri)
from trainworks.spec import load_spec


SHARED = "checkpoint.storage_path=/shared/checkpoints"


def submission(*overrides: str, **options):
    """The quick start's submission; checkpoints on shared storage unless the overrides say otherwise."""
    spec_file, overrides = JOBS / "quickstart.yaml", [SHARED, *overrides]
    return build_submission(spec_file, load_spec(spec_file, overrides), overrides, **options)


def test_the_job_runs_this_checkouts_code_on_the_spec_with_its_overrides() -> None:
    job = submission("training.epochs=2", "checkpoint.storage_path=/shared/ck points", environ={})
    assert project_root() == ROOT
    assert shlex.split(job.entrypoint) == ["python", "-m", "trainworks.cli", "run", "jobs/quickstart.yaml",
                                           "--set", SHARED, "--set", "training.epochs=2",
                                           "--set", "checkpoint.storage_path=/shared/ck points"]
    assert job.runtime_env["working_dir"] == str(ROOT) and job.runtime_env["excludes"] == EXCLUDES
    assert job.runtime_env["env_vars"] == {"PYTHONPATH": "platform", "PYTHONUNBUFFERED": "1"}
    assert job.metadata["trainworks.spec"] == "jobs/quickstart.yaml" and job.metadata["trainworks.command"] == "run"
    assert job.warnings == []


@pytest.mark.parametrize(("job", "command"), [("digits_search.yaml", "tune"), ("digits_ensemble.yaml", "run"),
                                            ("digits_ablation.yaml", "ablate")])
def test_searches_ensembles_and_ablations_submit_the_same_way(job: str, command: str) -> None:
    spec_file = JOBS / job
    submitted = build_submission(spec_file, load_spec(spec_file, [SHARED]), [SHARED], command, environ={})
    assert shlex.split(submitted.entrypoint) == ["python", "-m", "trainworks.cli", command, f"jobs/{job}",
                                                 "--set", SHARED]
    assert submitted.metadata["trainworks.command"] == command and submitted.warnings == []


def test_commands_the_job_cannot_run_are_refused_before_submitting() -> None:
    with pytest.raises(SubmitError, match="--command ui: expected one of run, tune, ablate"):
        submission(environ={}, command="ui")
    with pytest.raises(SubmitError, match="tune: the job file has no tune: section, which `tune` needs"):
        submission(environ={}, command="tune")
    with pytest.raises(SubmitError, match="ablation: the job file has no ablation: section, which `ablate` needs"):
        submission(environ={}, command="ablate")


def test_settings_travel_as_variables_only_when_asked_and_local_stores_never() -> None:
    environ = {"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000", "MLFLOW_TRACKING_PASSWORD": "s3cret",
               "MLFLOW_DISABLE_TELEMETRY": "true"}
    implicit = submission(environ=environ)
    assert "MLFLOW_TRACKING_URI" not in implicit.runtime_env["env_vars"]
    assert implicit.runtime_env["env_vars"]["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert any("set here but not sent" in warning for warning in implicit.warnings)
    sent = submission(environ=environ, forward=["MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_PASSWORD"])
    assert sent.runtime_env["env_vars"]["MLFLOW_TRACKING_URI"] == "http://mlflow.internal:5000"
    assert sent.runtime_env["env_vars"]["MLFLOW_TRACKING_PASSWORD"] == "s3cret"
    assert "s3cret" not in sent.entrypoint and sent.warnings == []
    for local in ("sqlite:///mlruns.db", "http://127.0.0.1:5000", "http://localhost:5000", "/srv/mlruns"):
        refused = submission(environ={}, tracking_uri=local)
        assert "MLFLOW_TRACKING_URI" not in refused.runtime_env["env_vars"]
        assert refused.warnings[0].startswith(f"not sending tracking URI {local}")
    assert unreachable_tracking_uri("https://mlflow.example.org") is None
    with pytest.raises(SubmitError, match="--env MLFLOW_TRACKING_USERNAME: MLFLOW_TRACKING_USERNAME is not set"):
        submission(environ={}, forward=["MLFLOW_TRACKING_USERNAME"])


def test_checkpoints_must_be_on_shared_storage() -> None:
    job = load_spec(JOBS / "quickstart.yaml")
    warnings = build_submission(JOBS / "quickstart.yaml", job, [], environ={}).warnings
    assert job.checkpoint.storage_path == "checkpoints" and "is relative" in warnings[0]
    assert "/shared/checkpoints" in warnings[0]
    uri = submission("checkpoint.storage_path=s3://bucket/ck", environ={}).warnings
    assert "URIs are not supported yet" in uri[0]


def test_a_job_file_outside_the_checkout_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "job.yaml"
    outside.write_text((JOBS / "cartpole_reinforce.yaml").read_text())
    with pytest.raises(SubmitError, match="is outside the project checkout"):
        build_submission(outside, load_spec(outside), [], environ={})


def test_the_uploaded_package_leaves_out_environments_stores_checkpoints_and_secrets(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("pyproject.toml", "platform/trainworks/__init__.py", "jobs/a.yaml", "deploy/.env.example",
                 "deploy/.env", ".env", ".venv/bin/python", "mlruns.db", "mlartifacts/1/x", "checkpoints/r/c/state.pt",
                 "mlflow-server/mlflow.db", "mlflow-server/artifacts/1/model.pt2",
                 "platform/trainworks/__pycache__/x.pyc", ".git/HEAD", "trainworks.egg-info/PKG-INFO"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    create_package(str(project), tmp_path / "package.zip", include_gitignore=True, excludes=EXCLUDES)
    with zipfile.ZipFile(tmp_path / "package.zip") as package:
        files = sorted(name for name in package.namelist() if not name.endswith("/"))
    assert files == ["jobs/a.yaml", "platform/trainworks/__init__.py", "pyproject.toml"]


def test_address_precedence_and_refusal_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {"RAY_ADDRESS": "http://b:8265", "RAY_API_SERVER_ADDRESS": "http://a:8265"}
    assert jobs_address("http://given:8265", environ) == "http://given:8265"
    assert jobs_address(None, environ) == "http://a:8265"
    assert jobs_address(None, {"RAY_ADDRESS": "http://b:8265"}) == "http://b:8265"
    with pytest.raises(SubmitError, match="no Ray Jobs address: pass --address"):
        jobs_address(None, {})
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    assert "export RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN" in authentication_fix("h", "401")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert "is missing or is not this cluster's" in authentication_fix("h", "Authentication failed: 403")
