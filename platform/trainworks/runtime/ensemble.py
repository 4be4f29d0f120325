"""Ensembles on Ray Tune: every member a trial (own seed, own sampled values), then one combined, registered model.

The members train in parallel like a search's trials (child MLflow runs under one parent);
the parent run gets every member's and the ensemble's validation metrics, a table, a chart,
and the ensemble itself as one MLflow model, registered under the spec's model name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from trainworks.engine.ensemble import EnsembleModel, predict_split, scores
from trainworks.engine.families import Outcome, family_of
from trainworks.engine.checkpoint import latest_checkpoint
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, model_package
from trainworks.runtime.tune import Trials, run_experiment
from trainworks.runtime.tune_space import trial_spec
from trainworks.spec import JobSpec
from trainworks.spec.consistency import job_task
from trainworks.spec.tune import Grid, TuneSpec
from trainworks.tracking.mlflow_tracker import MlflowTracker
from trainworks.tracking.plots import bar_chart_png

SEED = "training.seed"


@dataclass(frozen=True)
class EnsembleSummary:
    """The ensemble's and each member's validation metrics, and where the combined model went."""

    parent_run_id: str
    metrics: dict[str, float]
    members: list[dict[str, float]]
    model_uri: str | None
    model_version: str | None


def members_as_trials(spec: JobSpec) -> TuneSpec:
    """One trial per member: seeds training.seed + i (a grid), each member sampling `vary` once."""
    assert spec.ensemble is not None
    classify = job_task(spec) == "classification"
    seeds = [spec.training.seed + index for index in range(spec.ensemble.members)]
    return TuneSpec(metric="val_accuracy" if classify else "val_rmse", mode="max" if classify else "min",
                    search="random", num_samples=1, max_concurrent=spec.ensemble.max_concurrent,
                    space={SEED: Grid(grid=seeds), **spec.ensemble.vary})


def run_ensemble(spec: JobSpec, options: RunOptions, tracker: MlflowTracker, terminal: Terminal) -> EnsembleSummary:
    """Train the members (or, with --resume, the ones not yet finished), combine them, record and register."""
    assert spec.ensemble is not None
    return run_experiment(spec, members_as_trials(spec), "ensemble", combine_members, options, tracker, terminal)


def combine_members(trials: Trials, tracker: MlflowTracker) -> EnsembleSummary:
    """Score members and ensemble on the validation split, log the comparison, register the ensemble."""
    spec, data, parent_id = trials.spec, trials.data, trials.parent_id
    assert spec.ensemble is not None
    classify = job_task(spec) == "classification"
    results = sorted(trials.results, key=lambda result: result.config[SEED])
    outcomes = [_member_outcome(trials, result) for result in results]
    member_scores = [scores(predict_split(outcome.model, data.val, data.transform), data.val.y, classify, False)
                     for outcome in outcomes]
    ensemble = EnsembleModel([outcome.model for outcome in outcomes], spec.ensemble.combine, classify)
    ensemble_scores = scores(predict_split(ensemble, data.val, data.transform), data.val.y, classify, True)
    if spec.ensemble.combine == "vote":
        ensemble_scores.pop("val_nll")  # vote shares are not probabilities
    rows = [[f"member {index}", trials.children.get(result.metrics.get("trial_id")), result.config[SEED],
             *[member.get(name) for name in ensemble_scores]]
            for index, (result, member) in enumerate(zip(results, member_scores))]
    rows.append(["ensemble", parent_id, "", *ensemble_scores.values()])
    tracker.log_csv(parent_id, ["model", "run_id", "seed", *ensemble_scores], rows, "ensemble/members.csv")
    headline = next(iter(ensemble_scores))
    bars = [(row[0], row[3], 0.0) for row in rows]
    tracker.log_png(parent_id, bar_chart_png(bars, headline, f"{headline}: members and their {spec.ensemble.combine}",
                                             "ensemble"), f"plots/ensemble_{headline}.png")
    better = max if classify else min
    summary_metrics = {**{f"ensemble_{name}": value for name, value in ensemble_scores.items()},
                       f"best_member_{headline}": better(member[headline] for member in member_scores),
                       f"mean_member_{headline}": sum(member[headline] for member in member_scores) / len(outcomes)}
    tracker.log_epoch(parent_id, spec.training.epochs, summary_metrics, int(time.time() * 1000))
    model_uri = version = None
    if spec.tracking.log_model:
        package = model_package(Outcome(ensemble_scores, ensemble, outcomes[0].example_input), data)
        model_uri, version = tracker.log_model(parent_id, package, spec.tracking.registered_model, {
            "trainworks.ensemble_run_id": parent_id, "trainworks.members": str(len(outcomes)),
            "trainworks.combine": spec.ensemble.combine, **{name: f"{value:.6g}" for name, value in
                                                            ensemble_scores.items()}})
    return EnsembleSummary(parent_id, ensemble_scores, member_scores, model_uri, version)


def _member_outcome(trials: Trials, result: Any) -> Outcome:
    """A member's final weights, rebuilt from its own trial spec (sampled values may change the model)."""
    member_spec = trial_spec(trials.base, result.config)
    final = latest_checkpoint(trials.train_dir(result))
    if final is None:
        raise RuntimeError(f"member {result.config} left no checkpoint")
    return family_of(member_spec).outcome(member_spec, trials.data, final)
