"""Ensembles: members as nested Tune trials, the combined model at least as good as its best member, registered."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.conftest import DIGITS_MLP, JOBS, make_spec
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions
from trainworks.spec import SpecError, load_spec

# jobs/digits_ensemble.yaml made smaller: three members of the job's own MLP, differing by seed only
ENSEMBLE_JOB_SHORT = ["ensemble.members=3", "ensemble.vary={}"]


def test_an_ensemble_refuses_tasks_it_cannot_combine_and_a_search_beside_it() -> None:
    with pytest.raises(SpecError, match="ensemble: ensembles combine classifiers or regressors; this job's task "
                                        "is reconstruction"):
        make_spec(DIGITS_MLP, model={"name": "autoencoder"}, loss={"name": "mse"}, ensemble={"members": 2})
    with pytest.raises(SpecError, match="ensemble: a job is either a search"):
        make_spec(DIGITS_MLP, ensemble={"members": 2},
                  tune={"space": {"optimizer.lr": {"choice": [0.1, 0.01]}}})
    with pytest.raises(SpecError, match=r"ensemble.vary.model.widht: 8 does not make a valid job"):
        make_spec(DIGITS_MLP, ensemble={"vary": {"model.widht": {"choice": [8]}}})


@pytest.mark.slow
def test_three_members_combine_into_a_registered_model_at_least_as_good_as_the_best(ray_session, tracker) -> None:
    import mlflow.pyfunc
    import numpy as np

    from trainworks.runtime.ensemble import run_ensemble
    from trainworks.runtime.job import prepare_job_data

    spec = load_spec(JOBS / "digits_ensemble.yaml", [*ENSEMBLE_JOB_SHORT, "tracking.experiment=ensemble",
                                                      "tracking.registered_model=digits-ensemble"])
    summary = run_ensemble(spec, RunOptions(JOBS / "digits_ensemble.yaml"), tracker,
                           Terminal(Console(file=io.StringIO())))
    members = tracker.find_runs("ensemble", {"mlflow.parentRunId": summary.parent_run_id})
    assert sorted(int(run.data.params["training.seed"]) for run in members) == [0, 1, 2]
    assert all(run.info.status == "FINISHED" for run in members)
    best_member = max(member["val_accuracy"] for member in summary.members)
    assert summary.metrics["val_accuracy"] >= best_member
    # mean probabilities: by Jensen, the ensemble's NLL is at most the members' mean NLL
    assert summary.metrics["val_nll"] <= sum(member["val_nll"] for member in summary.members) / 3
    parent = tracker.client.get_run(summary.parent_run_id)
    assert parent.data.metrics["ensemble_val_accuracy"] == pytest.approx(summary.metrics["val_accuracy"])
    assert {"ensemble/members.csv", "plots/ensemble_val_accuracy.png"} <= {
        a.path for folder in ("ensemble", "plots") for a in tracker.client.list_artifacts(summary.parent_run_id, folder)}
    model = mlflow.pyfunc.load_model(f"models:/digits-ensemble/{summary.model_version}")
    data = prepare_job_data(spec)
    predicted = np.asarray(model.predict(data.val.x.numpy())).argmax(axis=-1)
    assert (predicted == data.val.y.numpy()).mean() == pytest.approx(summary.metrics["val_accuracy"])
