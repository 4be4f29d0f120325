"""A trick ablation through Ray Tune: variants x seeds nested under one parent with the table and the chart."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.conftest import JOBS
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions
from trainworks.spec import load_spec

# jobs/digits_ablation.yaml made short: two of its tricks, two seeds, two epochs
ABLATION_JOB_SHORT = ["ablation.tricks=[mixup, ema]", "ablation.seeds=2", "training.epochs=2"]


@pytest.mark.slow
def test_two_tricks_over_two_seeds_give_the_table_and_the_chart(ray_session, tracker) -> None:
    from trainworks.runtime.ablation import run_ablation

    spec = load_spec(JOBS / "digits_ablation.yaml", [*ABLATION_JOB_SHORT, "tracking.experiment=ablation"])
    summary = run_ablation(spec, RunOptions(JOBS / "digits_ablation.yaml"), tracker,
                           Terminal(Console(file=io.StringIO())))
    trials = tracker.find_runs("ablation", {"mlflow.parentRunId": summary.parent_run_id})
    assert len(trials) == 6 and all(run.info.status == "FINISHED" for run in trials)
    assert sorted(run.data.tags["trainworks.searched.tricks"] for run in trials) == sorted(
        ["label_smoothing+mixup+ema", "label_smoothing+ema", "label_smoothing+mixup"] * 2)
    rows = {row.label: row for row in summary.rows}
    assert list(rows) == ["all on", "without mixup", "without ema"]
    for row in rows.values():  # each variant's values are its two trials' final accuracies
        finals = sorted(run.data.metrics["val_accuracy"] for run in trials
                        if _variant(run.data.tags["trainworks.searched.tricks"]) == row.label)
        assert sorted(row.values) == pytest.approx(finals)
        assert row.difference == pytest.approx(row.mean - rows["all on"].mean)
    assert "| without mixup | 2 |" in summary.table
    artifacts = {a.path for folder in ("ablation", "plots")
                 for a in tracker.client.list_artifacts(summary.parent_run_id, folder)}
    assert {"ablation/table.csv", "ablation/table.md", "plots/ablation_val_accuracy.png"} <= artifacts
    parent = tracker.client.get_run(summary.parent_run_id)
    assert parent.data.metrics["val_accuracy_mean.without_mixup"] == pytest.approx(rows["without mixup"].mean)
    assert parent.data.tags["trainworks.ablation.without_ema"] == rows["without ema"].verdict


def _variant(tricks: str) -> str:
    missing = [name for name in ("mixup", "ema") if name not in tricks.split("+")]
    return "all on" if not missing else f"without {missing[0]}"
