"""Hyper-parameter searches on Ray Tune: every trial is the job with sampled values, on its own Ray Train workers.

MLflow gets one parent run per search and one child run per trial (logged from the driver by
a Tune callback); the best trial's model is logged and registered at the end. A search
interrupted for any reason continues with `--resume`: Tune restores finished trials as they
were and continues unfinished ones from their last epoch checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from trainworks.data.types import DataBundle
from trainworks.engine.divergence import Diverged
from trainworks.runtime.cluster import connect_ray
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, checkpoint_root, prepare_job_data, record_outcome, run_tags
from trainworks.runtime.messages import EpochMessage
from trainworks.runtime.ray_train import run_ray_train
from trainworks.runtime.tune_space import EPOCH, param_space, scheduler, search_algorithm, trial_spec
from trainworks.runtime.tune_tracking import MlflowTrials, TerminalTrials, epoch_metrics
from trainworks.spec import Issue, JobSpec, SpecError, spec_to_yaml
from trainworks.tracking.mlflow_tracker import MlflowTracker
from trainworks.tracking.plots import metric_by_parameter_png, trial_curves_png

TRIAL_RESOURCES = {"cpu": 0.1}  # a trial only drives its own Ray Train workers ({"cpu": 0} is refused)
POINTER = "train_checkpoint.json"
SEARCH_TAG = "trainworks.search"


@dataclass(frozen=True)
class SearchSummary:
    """Where a finished search is and what it found."""

    parent_run_id: str
    best_run_id: str
    best_config: dict[str, Any]
    best_metric: float
    trials: int
    model_version: str | None


def run_trial(config: dict[str, Any], base: dict[str, Any], data: DataBundle, storage: str, metric: str,
              mode: str) -> None:
    """One Tune trial: a Ray Train run of the trial's spec, each epoch reported to Tune with a checkpoint pointer.

    A trial restored by Tune (a resumed search, or PBT copying a better trial) continues from the
    Train checkpoint its Tune checkpoint points to, under a fresh Train run name so that Ray
    Train's own restore does not pick an older state of this trial.
    """
    spec = trial_spec(base, config)
    trial_id = tune.get_context().get_trial_id()
    resume_dir = None
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as folder:
            resume_dir = Path(json.loads((Path(folder) / POINTER).read_text())["checkpoint"])

    def report(message: EpochMessage) -> None:
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / POINTER).write_text(json.dumps({"checkpoint": message.checkpoint}))
            tune.report({**message.metrics, EPOCH: message.epoch},
                        checkpoint=tune.Checkpoint.from_directory(folder))

    try:
        run_ray_train(spec, data, Path(storage), f"trial-{trial_id}-{uuid.uuid4().hex[:6]}", resume_dir, report)
    except Diverged as diverged:
        # The trial ends here with its worst possible score: an error would have Tune retry it (or resume
        # retry it) from a checkpoint that diverges the same way again.
        tune.report({metric: float("inf") if mode == "min" else float("-inf"), **diverged.as_result()})


def open_search(spec: JobSpec, options: RunOptions, tracker: MlflowTracker) -> tuple[str, bool]:
    """The parent run: a new one, or with --resume the newest unfinished search of this same spec."""
    tags = {**run_tags(spec, options, "ray tune"), SEARCH_TAG: "true"}
    if options.resume:
        earlier = [run for run in tracker.find_runs(spec.tracking.experiment, {
            SEARCH_TAG: "true", "trainworks.spec_hash": tags["trainworks.spec_hash"]}) if run.info.status != "FINISHED"]
        if not earlier:
            raise SpecError([Issue(("--resume",), "no unfinished search of this job file in "
                                                  f"experiment '{spec.tracking.experiment}'")])
        tracker.reopen_run(earlier[0].info.run_id, {"trainworks.resumed": "true"})
        return earlier[0].info.run_id, True
    run_id = tracker.start_run(spec.tracking.experiment, f"{spec.tracking.run_name or spec.name}-search",
                               spec.model_dump(mode="json"), spec_to_yaml(spec), tags, spec.description)
    return run_id, False


def run_search(spec: JobSpec, options: RunOptions, tracker: MlflowTracker, terminal: Terminal) -> SearchSummary:
    """Run (or continue) the spec's search; log the parent run's summary and register the best model."""
    assert spec.tune is not None
    data = prepare_job_data(spec)
    if not options.verbose:
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter at verbose=0 prints nothing
    connect_ray(spec, options.address, options.verbose, terminal.warn)
    parent_id, restoring = open_search(spec, options, tracker)
    storage = checkpoint_root(spec)
    name = f"search-{parent_id}"
    base = spec.model_dump(mode="json")
    trainable = tune.with_resources(tune.with_parameters(run_trial, base=base, data=data, storage=str(storage),
                                                         metric=spec.tune.metric, mode=spec.tune.mode),
                                    TRIAL_RESOURCES)
    terminal.info(f"search {parent_id}: {spec.tune.num_samples} samples, {spec.tune.search} search, "
                  f"{spec.tune.scheduler.name} scheduler, {spec.tune.max_concurrent} at a time")
    try:
        if restoring:
            tuner = tune.Tuner.restore(str(storage / name), trainable, resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(trainable, param_space=param_space(spec.tune), tune_config=tune.TuneConfig(
                metric=spec.tune.metric, mode=spec.tune.mode, search_alg=search_algorithm(spec.tune),
                scheduler=scheduler(spec.tune, spec.training.epochs), num_samples=spec.tune.num_samples,
                max_concurrent_trials=spec.tune.max_concurrent),
                run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0, callbacks=[
                    MlflowTrials(tracker.uri, spec.tracking.experiment, parent_id, base),
                    TerminalTrials(spec.tune.metric, spec.training.epochs)]))
        results = tuner.fit()
    except KeyboardInterrupt:
        tracker.end_run(parent_id, "KILLED")
        terminal.warn(f"interrupted; continue with: trainworks tune {options.job_file} --resume")
        raise
    summary = summarise(spec, base, data, results, parent_id, tracker)
    tracker.end_run(parent_id, "FINISHED")
    return summary


def summarise(spec: JobSpec, base: dict[str, Any], data: DataBundle, results: Any, parent_id: str,
              tracker: MlflowTracker) -> SearchSummary:
    """The parent run's record: trials table, plots, best config and metric; the best model registered."""
    assert spec.tune is not None
    metric, mode, paths = spec.tune.metric, spec.tune.mode, list(spec.tune.space)
    children = {run.data.tags["trainworks.trial_id"]: run.info.run_id for run in tracker.find_runs(
        spec.tracking.experiment, {"mlflow.parentRunId": parent_id})}
    rows, curves = [], {}
    for result in results:
        trial_id = result.metrics.get("trial_id")
        history = tracker.epoch_history(children[trial_id]) if trial_id in children else []
        curves[trial_id] = [(row["epoch"], row["metrics"].get(metric)) for row in history]
        rows.append([trial_id, children.get(trial_id), len(history), epoch_metrics(result.metrics).get(metric),
                     *[result.config.get(path) for path in paths]])
    tracker.log_csv(parent_id, ["trial_id", "run_id", "epochs", metric, *paths], rows, "search/trials.csv")
    tracker.log_png(parent_id, trial_curves_png(curves, metric), "plots/trial_curves.png")
    for path in paths:
        log_x = type(spec.tune.space[path]).__name__ == "LogUniform"
        points = [(row[4 + paths.index(path)], row[3]) for row in rows if row[3] is not None]
        tracker.log_png(parent_id, metric_by_parameter_png(points, path, metric, log_x), f"plots/{metric}_by_{path}.png")
    best = results.get_best_result(metric=metric, mode=mode, scope="last")
    best_id = best.metrics["trial_id"]
    best_value = float(best.metrics[metric])
    tracker.log_json(parent_id, best.config, "search/best_config.json")
    tracker.set_tags(parent_id, {"trainworks.best_trial": best_id, "trainworks.best_run": children[best_id],
                                 **{f"trainworks.best.{path}": str(value) for path, value in best.config.items()}})
    tracker.log_epoch(parent_id, 0, {f"best_{metric}": best_value}, 0)
    with best.checkpoint.as_directory() as folder:
        train_dir = Path(json.loads((Path(folder) / POINTER).read_text())["checkpoint"]).parent
    outcome = record_outcome(trial_spec(base, best.config), data, train_dir, children[best_id], tracker,
                             {"trainworks.search_run_id": parent_id})
    return SearchSummary(parent_id, children[best_id], best.config, best_value, len(rows), outcome.model_version)
