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
from typing import Any, Callable, TypeVar

from ray import tune

from trainworks.data.types import DataBundle
from trainworks.engine.divergence import Diverged
from trainworks.runtime.cluster import connect_ray
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, checkpoint_root, prepare_job_data, record_outcome, run_tags
from trainworks.runtime.messages import EpochMessage
from trainworks.runtime.ray_train import run_ray_train
from trainworks.runtime.tune_space import EPOCH, param_space, scheduler, search_algorithm, trial_spec
from trainworks.runtime.tune_tracking import PARENT_TAG, TRIAL_TAG, MlflowTrials, TerminalTrials, epoch_metrics
from trainworks.spec import Issue, JobSpec, SpecError, spec_to_yaml
from trainworks.spec.tune import TuneSpec
from trainworks.tracking.mlflow_tracker import MlflowTracker
from trainworks.tracking.plots import metric_by_parameter_png, trial_curves_png

T = TypeVar("T")
TRIAL_RESOURCES = {"cpu": 0.1}  # a trial only drives its own Ray Train workers ({"cpu": 0} is refused)
POINTER = "train_checkpoint.json"
KIND_TAG = "trainworks.tune_kind"  # search, ensemble or ablation
LATEST = "latest"  # --resume without a run id: the newest unfinished experiment of the job file


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


@dataclass(frozen=True)
class Trials:
    """A finished Tune experiment of one job: its parent run, results, data and each trial's child run."""

    spec: JobSpec
    base: dict[str, Any]
    data: DataBundle
    parent_id: str
    results: Any
    children: dict[str, str]

    def train_dir(self, result: Any) -> Path:
        """The folder of the trial's Ray Train checkpoints (its Tune checkpoint only points there)."""
        with result.checkpoint.as_directory() as folder:
            return Path(json.loads((Path(folder) / POINTER).read_text())["checkpoint"]).parent


def open_parent(spec: JobSpec, kind: str, options: RunOptions, tracker: MlflowTracker) -> tuple[str, bool]:
    """The parent run: a new one, or with --resume the newest unfinished one of this kind and spec."""
    tags = {**run_tags(spec, options, "ray tune"), KIND_TAG: kind}
    if options.resume:
        earlier = [run for run in tracker.find_runs(spec.tracking.experiment, {
            KIND_TAG: kind, "trainworks.spec_hash": tags["trainworks.spec_hash"]}) if run.info.status != "FINISHED"
            and options.resume in (LATEST, run.info.run_id)]
        if not earlier:
            which = "" if options.resume == LATEST else f" with run id {options.resume}"
            raise SpecError([Issue(("--resume",), f"no unfinished {kind}{which} of this job file in "
                                                  f"experiment '{spec.tracking.experiment}'")])
        tracker.reopen_run(earlier[0].info.run_id, {"trainworks.resumed": "true"})
        return earlier[0].info.run_id, True
    run_id = tracker.start_run(spec.tracking.experiment, f"{spec.tracking.run_name or spec.name}-{kind}",
                               spec.model_dump(mode="json"), spec_to_yaml(spec), tags, spec.description)
    return run_id, False


def run_trials(spec: JobSpec, trials: TuneSpec, kind: str, options: RunOptions, tracker: MlflowTracker,
               terminal: Terminal) -> Trials:
    """Run (or continue) one Tune experiment of the job's trials under a parent MLflow run of `kind`."""
    data = prepare_job_data(spec)
    if not options.verbose:
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter at verbose=0 prints nothing
    connect_ray(spec, options.address, options.verbose, terminal.warn)
    parent_id, restoring = open_parent(spec, kind, options, tracker)
    storage = checkpoint_root(spec)
    name = f"{kind}-{parent_id}"
    base = spec.model_dump(mode="json")
    trainable = tune.with_resources(tune.with_parameters(run_trial, base=base, data=data, storage=str(storage),
                                                         metric=trials.metric, mode=trials.mode),
                                    TRIAL_RESOURCES)
    terminal.info(f"{kind} {parent_id}: {trials.num_samples} samples, {trials.search} search, "
                  f"{trials.scheduler.name} scheduler, {trials.max_concurrent} at a time")
    try:
        if restoring:
            tuner = tune.Tuner.restore(str(storage / name), trainable, resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(trainable, param_space=param_space(trials), tune_config=tune.TuneConfig(
                metric=trials.metric, mode=trials.mode, search_alg=search_algorithm(trials),
                scheduler=scheduler(trials, spec.training.epochs), num_samples=trials.num_samples,
                max_concurrent_trials=trials.max_concurrent),
                run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0, callbacks=[
                    MlflowTrials(tracker.uri, spec.tracking.experiment, parent_id, base),
                    TerminalTrials(trials.metric, spec.training.epochs)]))
        results = tuner.fit()
    except KeyboardInterrupt:
        tracker.end_run(parent_id, "KILLED")
        terminal.warn(f"interrupted; continue with the same command and --resume ({options.job_file})")
        raise
    children = {run.data.tags[TRIAL_TAG]: run.info.run_id for run in tracker.find_runs(
        spec.tracking.experiment, {PARENT_TAG: parent_id})}
    return Trials(spec, base, data, parent_id, results, children)


def run_experiment(spec: JobSpec, trials_spec: TuneSpec, kind: str, conclude: Callable[[Trials, MlflowTracker], T],
                   options: RunOptions, tracker: MlflowTracker, terminal: Terminal) -> T:
    """Run the trials, let `conclude` log what they show on the parent run, then finish the parent."""
    trials = run_trials(spec, trials_spec, kind, options, tracker, terminal)
    conclusion = conclude(trials, tracker)
    tracker.end_run(trials.parent_id, "FINISHED")
    return conclusion


def run_search(spec: JobSpec, options: RunOptions, tracker: MlflowTracker, terminal: Terminal) -> SearchSummary:
    """Run (or continue) the spec's search; log the parent run's summary and register the best model."""
    assert spec.tune is not None
    return run_experiment(spec, spec.tune, "search", summarise, options, tracker, terminal)


def summarise(trials: Trials, tracker: MlflowTracker) -> SearchSummary:
    """The parent run's record: trials table, plots, best config and metric; the best model registered."""
    spec, parent_id, children = trials.spec, trials.parent_id, trials.children
    assert spec.tune is not None
    metric, mode, paths = spec.tune.metric, spec.tune.mode, list(spec.tune.space)
    rows, curves = [], {}
    for result in trials.results:
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
    best = trials.results.get_best_result(metric=metric, mode=mode, scope="last")
    best_id = best.metrics["trial_id"]
    best_value = float(best.metrics[metric])
    tracker.log_json(parent_id, best.config, "search/best_config.json")
    tracker.set_tags(parent_id, {"trainworks.best_trial": best_id, "trainworks.best_run": children[best_id],
                                 **{f"trainworks.best.{path}": str(value) for path, value in best.config.items()}})
    tracker.log_epoch(parent_id, 0, {f"best_{metric}": best_value}, 0)
    outcome = record_outcome(trial_spec(trials.base, best.config), trials.data, trials.train_dir(best),
                             children[best_id], tracker, {"trainworks.search_run_id": parent_id})
    return SearchSummary(parent_id, children[best_id], best.config, best_value, len(rows), outcome.model_version)
