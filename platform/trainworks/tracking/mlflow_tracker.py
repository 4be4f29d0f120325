"""One MLflow tracker on the driver: explicit run ids through MlflowClient, never the fluent active run."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from trainworks.tracking.metric_buffer import MetricBuffer, buffer_for, single_attempt_sender
from trainworks.tracking.params import mask_secrets, spec_params

DEFAULT_STORE = "mlruns.db"
DEFAULT_ARTIFACTS = "mlartifacts"
UI_ADDRESS = "http://127.0.0.1:5000"
BATCH_LIMIT = 100
FLUSH_TIMEOUT_S = 900.0  # how long a run waits at its end for an unreachable tracking server to return


class TrackingUnreachable(ConnectionError):
    """Metric points still queued after FLUSH_TIMEOUT_S: the tracking server stayed away."""


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(DEFAULT_STORE).resolve()}"


def default_artifact_root() -> str:
    """Where the embedded store keeps artifacts: ./mlartifacts."""
    return Path(DEFAULT_ARTIFACTS).resolve().as_uri()


@dataclass(frozen=True)
class ModelPackage:
    """A trained model and what inference needs beside it."""

    model: torch.nn.Module
    input_example: Any
    output_example: Any
    extra_files: dict[str, Any]


class MlflowTracker:
    """Runs, metrics, artifacts and the registry in one MLflow store, addressed by explicit run ids."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.uri = tracking_uri or default_tracking_uri()
        self.embedded = self.uri.startswith("sqlite:")

    @cached_property
    def client(self) -> MlflowClient:
        """The store is touched on first use, so a job refused before training leaves no trace."""
        import mlflow

        # Model logging and `models:/` URIs only read MLflow's process-wide store: point it here too.
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        return MlflowClient(self.uri, registry_uri=self.uri)

    # ------------------------------------------------------------ runs

    def start_run(self, experiment: str, run_name: str, spec_dump: dict[str, Any], spec_yaml: str,
                  tags: dict[str, str], description: str = "") -> str:
        """A new run with the resolved spec as params and as an artifact."""
        run = self.client.create_run(self._experiment_id(experiment), run_name=run_name, tags=mask_secrets(tags))
        run_id = run.info.run_id
        params = [Param(key, value) for key, value in spec_params(spec_dump).items()]
        for start in range(0, len(params), BATCH_LIMIT):
            self.client.log_batch(run_id, params=params[start:start + BATCH_LIMIT])
        self.client.log_text(run_id, spec_yaml, "spec/job.yaml")
        if description:
            self.client.set_tag(run_id, "mlflow.note.content", description)
        return run_id

    def find_runs(self, experiment: str, tags: dict[str, str]) -> list[Any]:
        """Runs of an experiment carrying all the given tags, newest first."""
        existing = self.client.get_experiment_by_name(experiment)
        if existing is None:
            return []
        query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
        return self.client.search_runs([existing.experiment_id], filter_string=query,
                                       order_by=["attributes.start_time DESC"])

    def log_csv(self, run_id: str, header: list[str], rows: list[list[Any]], artifact_file: str) -> None:
        """A table as CSV (a search's trials, an ablation's variants)."""
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        self.client.log_text(run_id, buffer.getvalue(), artifact_file)

    def run_tags(self, run_id: str) -> dict[str, str]:
        """Tags of an existing run; fails clearly when the store has no such run."""
        try:
            return self.client.get_run(run_id).data.tags
        except MlflowException as error:
            raise LookupError(f"no run '{run_id}' in {self.uri}") from error

    def reopen_run(self, run_id: str, tags: dict[str, str]) -> None:
        """Mark a stopped run running again (resume)."""
        self.client.update_run(run_id, status="RUNNING")
        self.set_tags(run_id, tags)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Tags whose names look like secrets are masked (see tracking.params)."""
        self.client.log_batch(run_id, tags=[RunTag(key, value) for key, value in mask_secrets(tags).items()])

    def end_run(self, run_id: str, status: str) -> None:
        """FINISHED, FAILED or KILLED, once every queued metric point is stored."""
        self.flush()
        self.client.set_terminated(run_id, status=status)

    # ------------------------------------------------------------ metrics

    @property
    def buffer(self) -> MetricBuffer:
        """Where log_epoch's points wait for the background sender (shared by every tracker on this URI)."""
        return buffer_for(self.uri, lambda: single_attempt_sender(self.client))

    def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until every queued metric point is stored: reads and run ends see all of them."""
        if not self.buffer.flush(timeout):
            raise TrackingUnreachable(f"{self.buffer.pending()} metric points could not reach {self.uri} in "
                                      f"{timeout:.0f} s; they are lost when this process exits")

    def logged_epochs(self, run_id: str, metric: str = "train_loss") -> set[int]:
        """Epochs that already have a metric point (so a resumed run logs each epoch once)."""
        self.flush()
        return {point.step for point in self.client.get_metric_history(run_id, metric)}

    def epoch_history(self, run_id: str) -> list[dict[str, Any]]:
        """Every logged epoch (step >= 1) as {"epoch", "metrics"}, in order: what learning curves plot."""
        self.flush()
        rows: dict[int, dict[str, float]] = {}
        for name in self.client.get_run(run_id).data.metrics:
            for point in self.client.get_metric_history(run_id, name):
                if point.step >= 1:
                    rows.setdefault(point.step, {})[name] = point.value
        return [{"epoch": epoch, "metrics": rows[epoch]} for epoch in sorted(rows)]

    def log_epoch(self, run_id: str, epoch: int, metrics: dict[str, float], timestamp_ms: int) -> None:
        """One point per metric, at step = epoch; queued, so the caller (a training step) never waits on the network."""
        points = [Metric(name, float(value), timestamp_ms, epoch) for name, value in metrics.items()]
        for start in range(0, len(points), BATCH_LIMIT):
            self.buffer.put(run_id, points[start:start + BATCH_LIMIT])

    # ------------------------------------------------------------ artifacts and models

    def log_json(self, run_id: str, value: Any, artifact_file: str) -> None:
        self.client.log_text(run_id, json.dumps(value, indent=1, default=str), artifact_file)

    def log_png(self, run_id: str, png: bytes, artifact_file: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(artifact_file).name
            path.write_bytes(png)
            self.client.log_artifact(run_id, str(path), str(Path(artifact_file).parent))

    def log_model(self, run_id: str, package: ModelPackage, registered_name: str | None,
                  version_tags: dict[str, str]) -> tuple[str, str | None]:
        """Log the model (pt2: loading it runs no pickled code) and register it; returns (uri, version)."""
        import mlflow.pytorch
        from mlflow.models import Model, infer_signature

        with tempfile.TemporaryDirectory() as folder:
            extra = []
            for name, value in package.extra_files.items():
                (Path(folder) / name).write_text(json.dumps(value, indent=1), encoding="utf-8")
                extra.append(str(Path(folder) / name))
            info = Model.log(
                artifact_path=None, name="model", run_id=run_id, flavor=mlflow.pytorch,
                pytorch_model=package.model.eval(),
                signature=infer_signature(package.input_example, package.output_example),
                input_example=package.input_example, serialization_format="pt2", extra_files=extra,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            )
            version = self._register(registered_name, info, run_id, version_tags) if registered_name else None
        return info.model_uri, version

    def _register(self, name: str, info: Any, run_id: str, tags: dict[str, str]) -> str:
        try:
            self.client.create_registered_model(name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(name, info.model_uri, run_id=run_id, tags=tags,
                                                   model_id=info.model_id)
        return str(version.version)

    # ------------------------------------------------------------ addresses

    def run_url(self, run_id: str) -> str:
        """Where the run opens in the UI (`trainworks ui` serves the embedded store at UI_ADDRESS)."""
        experiment = self.client.get_run(run_id).info.experiment_id
        base = UI_ADDRESS if not self.uri.startswith("http") else self.uri.rstrip("/")
        return f"{base}/#/experiments/{experiment}/runs/{run_id}"

    def _experiment_id(self, name: str) -> str:
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            if existing.lifecycle_stage == "deleted":
                self.client.restore_experiment(existing.experiment_id)
            return existing.experiment_id
        location = default_artifact_root() if self.embedded else None
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by a concurrent run
            return self.client.get_experiment_by_name(name).experiment_id

