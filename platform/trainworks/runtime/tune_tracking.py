"""Every Tune trial as a child MLflow run of its search, logged from the driver as results arrive."""

from __future__ import annotations

import time
from typing import Any

from ray import tune

from trainworks.engine.divergence import DIVERGED_EPOCH, DIVERGED_LOSS, DIVERGED_STEP, Diverged
from trainworks.spec import spec_to_yaml
from trainworks.tracking.mlflow_tracker import MlflowTracker
from trainworks.tracking.plots import learning_curve_png

PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "trainworks.trial_id"
BOOKKEEPING = {"epoch", "timestamp", "checkpoint_dir_name", "done", "training_iteration", "trial_id", "date",
               "time_this_iter_s", "time_total_s", "pid", "hostname", "node_ip", "time_since_restore",
               "iterations_since_restore", "config", DIVERGED_EPOCH, DIVERGED_STEP, DIVERGED_LOSS}


def epoch_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The job's own metrics in a Tune result (Tune adds bookkeeping keys of its own)."""
    return {key: float(value) for key, value in result.items()
            if key not in BOOKKEEPING and isinstance(value, (int, float)) and not isinstance(value, bool)}


class MlflowTrials(tune.Callback):
    """Opens a child run per trial (or finds it again after a resume) and logs each epoch exactly once.

    Holds only the tracking URI, the parent run and the base spec, so a restored search can
    rebuild it; which trial owns which run is read back from MLflow tags.
    """

    def __init__(self, tracking_uri: str, experiment: str, parent_run_id: str, base: dict[str, Any]) -> None:
        self.tracking_uri, self.experiment, self.parent_run_id, self.base = (tracking_uri, experiment,
                                                                             parent_run_id, base)
        self.runs: dict[str, str] = {}
        self.logged: dict[str, set[int]] = {}
        self.diverged: set[str] = set()

    @property
    def tracker(self) -> MlflowTracker:
        return MlflowTracker(self.tracking_uri)

    def run_of(self, trial: Any) -> str:
        """The trial's child run: found by its tags, or created with the trial's full spec as params."""
        if trial.trial_id in self.runs:
            return self.runs[trial.trial_id]
        tracker = self.tracker
        existing = tracker.find_runs(self.experiment, {PARENT_TAG: self.parent_run_id, TRIAL_TAG: trial.trial_id})
        if existing:
            run_id = existing[0].info.run_id
            tracker.reopen_run(run_id, {})
        else:
            from trainworks.runtime.tune_space import trial_spec

            spec = trial_spec(self.base, trial.config)
            tags = {PARENT_TAG: self.parent_run_id, TRIAL_TAG: trial.trial_id,
                    **{f"trainworks.searched.{path}": tag_value(value) for path, value in trial.config.items()}}
            run_id = tracker.start_run(self.experiment, f"trial-{trial.trial_id}", spec.model_dump(mode="json"),
                                       spec_to_yaml(spec), tags)
        self.runs[trial.trial_id] = run_id
        self.logged[trial.trial_id] = tracker.logged_epochs(run_id)
        return run_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.run_of(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        run_id, epoch = self.run_of(trial), int(result.get("epoch", 0))
        diverged = Diverged.from_result(result)
        if diverged is not None:
            self.tracker.set_tags(run_id, diverged.tags())
            self.diverged.add(trial.trial_id)
            return
        metrics = epoch_metrics(result)
        if epoch and epoch not in self.logged[trial.trial_id]:
            searched = {f"config.{path}": float(value) for path, value in trial.config.items()
                        if isinstance(value, (int, float)) and not isinstance(value, bool)}  # PBT changes these
            self.tracker.log_epoch(run_id, epoch, {**metrics, **searched}, int(time.time() * 1000))
            self.logged[trial.trial_id].add(epoch)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "FAILED" if trial.trial_id in self.diverged else "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "FAILED")

    def _finish(self, trial: Any, status: str) -> None:
        run_id, tracker = self.run_of(trial), self.tracker
        history = tracker.epoch_history(run_id)
        if history:
            tracker.log_png(run_id, learning_curve_png(history, f"trial {trial.trial_id}"),
                            "plots/learning_curve.png")
        tracker.end_run(run_id, status)


class TerminalTrials(tune.Callback):
    """One line per trial epoch and per finished trial, in place of Tune's own progress tables."""

    def __init__(self, metric: str, epochs: int) -> None:
        self.metric, self.epochs = metric, epochs

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        diverged = Diverged.from_result(result)
        if diverged is not None:
            print(f"trial {trial.trial_id} stopped: {diverged}", flush=True)
            return
        value = result.get(self.metric)
        shown = f"{self.metric} {value:.4f}" if isinstance(value, (int, float)) else ""
        config = "  ".join(f"{path}={_short(value)}" for path, value in trial.config.items())
        print(f"trial {trial.trial_id}  epoch {int(result.get('epoch', 0))}/{self.epochs}  {shown}  [{config}]",
              flush=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"trial {trial.trial_id} finished", flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"trial {trial.trial_id} failed: {trial.error_file or 'see Ray logs'}", flush=True)


def tag_value(value: Any) -> str:
    """A searched value as a tag: component lists (an ablation's tricks) by their names."""
    if isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value):
        return "+".join(item["name"] for item in value) or "(none)"
    return str(value)


def _short(value: Any) -> str:
    if isinstance(value, list):
        return tag_value(value)
    return f"{value:.3g}" if isinstance(value, float) else str(value)
