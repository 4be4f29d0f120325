"""Trick ablations on Ray Tune: every variant of the job over several seeds, one MLflow parent, one table.

The trials are a grid over (tricks list, seed); each is a child run like a search's trial.
The parent run gets the table (CSV and Markdown), a bar chart with the seed spread, and the
mean of every variant as a metric.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Sequence

from trainworks.runtime.ablation_plan import ALL_ON, Row, markdown_table, summarise_variants, variant_of, variants
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions
from trainworks.runtime.tune import Trials, run_experiment
from trainworks.runtime.tune_tracking import epoch_metrics
from trainworks.spec import JobSpec
from trainworks.spec.consistency import job_task
from trainworks.spec.tune import Grid, TuneSpec
from trainworks.tracking.mlflow_tracker import MlflowTracker
from trainworks.tracking.plots import bar_chart_png

TRICKS, SEED = "tricks", "training.seed"
DEFAULT_METRICS = {"classification": "val_accuracy", "regression": "val_rmse"}
HIGHER_IS_BETTER = ("accuracy", "return")


@dataclass(frozen=True)
class AblationSummary:
    """Where the ablation is and what it found."""

    parent_run_id: str
    metric: str
    rows: list[Row]
    table: str


def metric_and_mode(spec: JobSpec) -> tuple[str, str]:
    """The ablation's metric: as the section says, else the job task's headline metric."""
    assert spec.ablation is not None
    metric = spec.ablation.metric or DEFAULT_METRICS.get(job_task(spec), "val_loss")
    return metric, spec.ablation.mode or ("max" if any(word in metric for word in HIGHER_IS_BETTER) else "min")


def variants_as_trials(spec: JobSpec) -> TuneSpec:
    """A grid: every variant's tricks list crossed with the seeds."""
    assert spec.ablation is not None
    metric, mode = metric_and_mode(spec)
    all_tricks = [trick.model_dump(mode="json") for trick in spec.tricks]
    lists = [variant.tricks(all_tricks) for variant in variants(spec.ablation.tricks, spec.ablation.factorial)]
    seeds = [spec.training.seed + index for index in range(spec.ablation.seeds)]
    return TuneSpec(metric=metric, mode=mode, search="grid", num_samples=1,
                    max_concurrent=spec.ablation.max_concurrent, space={TRICKS: Grid(grid=lists), SEED: Grid(grid=seeds)})


def run_ablation(spec: JobSpec, options: RunOptions, tracker: MlflowTracker, terminal: Terminal) -> AblationSummary:
    """Train every variant over every seed, then log the comparison under the parent run."""
    assert spec.ablation is not None
    return run_experiment(spec, variants_as_trials(spec), "ablation", compare_variants, options, tracker, terminal)


def compare_variants(trials: Trials, tracker: MlflowTracker) -> AblationSummary:
    """Each variant's final metric over its seeds, against all-on: the table, the chart, a metric per variant."""
    spec = trials.spec
    assert spec.ablation is not None
    metric, mode = metric_and_mode(spec)
    values: dict[str, list[float]] = {variant.label: [] for variant in variants(spec.ablation.tricks,
                                                                                  spec.ablation.factorial)}
    for result in trials.results:
        final = epoch_metrics(result.metrics).get(metric)
        if final is None:
            raise RuntimeError(f"trial {result.config} reported no {metric}; metrics: {sorted(result.metrics)}")
        values[variant_of(result.config[TRICKS], spec.ablation.tricks).label].append(final)
    rows = summarise_variants(values, mode)
    table = markdown_table(rows, metric)
    _log(tracker, trials.parent_id, rows, table, metric, spec.training.epochs)
    return AblationSummary(trials.parent_id, metric, rows, table)


def _log(tracker: MlflowTracker, parent_id: str, rows: Sequence[Row], table: str, metric: str, epochs: int) -> None:
    tracker.log_csv(parent_id, ["variant", "seeds", "values", "mean", "std", "difference", "noise", "verdict"],
                    [[row.label, len(row.values), " ".join(f"{v:.6g}" for v in row.values), row.mean, row.std,
                      row.difference, row.noise, row.verdict] for row in rows], "ablation/table.csv")
    tracker.client.log_text(parent_id, table, "ablation/table.md")
    bars = [(row.label, row.mean, row.std) for row in rows]
    tracker.log_png(parent_id, bar_chart_png(bars, metric, f"{metric} by variant (mean ± std over seeds)", ALL_ON),
                    f"plots/ablation_{metric}.png")
    tracker.log_epoch(parent_id, epochs, {f"{metric}_mean.{_slug(row.label)}": row.mean for row in rows},
                      int(time.time() * 1000))
    tracker.set_tags(parent_id, {f"trainworks.ablation.{_slug(row.label)}": row.verdict for row in rows})


def _slug(label: str) -> str:
    """A variant label as MLflow accepts in metric and tag names."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")
