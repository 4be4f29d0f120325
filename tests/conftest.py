"""Shared fixtures: one local Ray per test session, one MLflow SQLite store per session, small specs."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from trainworks.spec import JobSpec, validate_spec

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "jobs"

DIGITS_MLP: dict[str, Any] = {
    "name": "test-digits-mlp",
    "data": {"dataset": "digits"},
    "model": {"name": "mlp", "hidden": [64]},
    "optimizer": {"name": "adam", "lr": 0.01},
    "training": {"epochs": 3, "batch_size": 64, "seed": 0},
    "tracking": {"experiment": "tests"},
}


MERGED_SECTIONS = {"training", "scaling", "tracking", "checkpoint"}


def make_spec(base: dict[str, Any] | None = None, **sections: Any) -> JobSpec:
    """A validated spec: `base` (default: a small digits MLP) with settings sections merged, others replaced."""
    raw = copy.deepcopy(base or DIGITS_MLP)
    for name, value in sections.items():
        raw[name] = {**raw.get(name, {}), **value} if name in MERGED_SECTIONS else value
    return validate_spec(raw, base_dir=JOBS)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session (its start-up costs tens of seconds on 2 cores)."""
    import ray

    from trainworks.runtime.cluster import connect_ray

    connect_ray(make_spec(scaling={"num_workers": 2}))
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite tracking URI shared by the session (creating a store takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"


@pytest.fixture
def tracker(mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An MlflowTracker on the session store, with the working directory (artifacts, checkpoints) in tmp_path."""
    from trainworks.tracking.mlflow_tracker import MlflowTracker

    monkeypatch.chdir(tmp_path)
    return MlflowTracker(mlflow_store)


MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
ENVIRONMENT_AT_START = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}


@pytest.fixture(autouse=True)
def mlflow_uris_stay_with_their_test() -> Iterator[None]:
    """MlflowTracker points MLflow's process-wide store (and, through MLflow, the environment that
    subprocesses inherit) at its own store; reset both so no later test or child process uses it."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    yield
    tracking_utils._tracking_uri = registry_utils._registry_uri = None
    for name, value in ENVIRONMENT_AT_START.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
