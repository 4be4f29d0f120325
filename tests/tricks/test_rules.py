"""Trick combinations that cannot work are refused at load time, at the path to edit."""

from __future__ import annotations

import pytest

from tests.conftest import JOBS, make_spec
from trainworks.spec import SpecError, validate_spec

REGRESSION = {"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "body_mass_g",
                                   "task": "regression", "features": ["bill_length_mm"]},
                       "preprocessing": ["impute"]},
              "model": "mlp", "loss": "mse", "training": {"epochs": 4}}


@pytest.mark.parametrize(("tricks", "training", "message"), [
    (["ema", "l2", "ema"], {}, r"tricks\[2\].name: 'ema' is already listed at tricks\[0\]"),
    (["ema", "swa"], {}, r"tricks\[1\].name: ema and swa both replace the weights by an average; keep one"),
    (["early_stopping", "ema"], {}, r"tricks\[0\].name: list early_stopping after ema"),
    ([{"name": "swa", "start_epoch": 5}], {"epochs": 4}, r"tricks\[0\].start_epoch: 5 is after the last epoch"),
    (["grad_clip"], {"grad_clip_norm": 1.0}, r"tricks\[0\].name: training.grad_clip_norm already clips"),
    ([{"name": "early_stopping", "metric": "val_rmse"}], {}, r"tricks\[0\].metric: a classification job has "
                                                             r"no val_rmse"),
    ([{"name": "early_stopping", "mode": "up"}], {}, r"tricks\[0\].mode: expected 'min' or 'max'"),
])
def test_conflicting_tricks_are_refused(tricks, training, message) -> None:
    with pytest.raises(SpecError, match=message):
        make_spec(tricks=tricks, training={"epochs": 4, **training})


def test_compatible_stacks_load() -> None:
    spec = make_spec(tricks=["label_smoothing", "mixup", "ema", {"name": "early_stopping", "restore_best": True},
                             "channels_last", "tta"])
    assert [t.name for t in spec.tricks][-1] == "tta"
    assert make_spec(tricks=[{"name": "early_stopping", "restore_best": False}, "swa"]).tricks[1].name == "swa"


def test_regression_jobs_watch_their_own_metrics() -> None:
    with pytest.raises(SpecError, match=r"a regression job has no val_accuracy"):
        validate_spec({**REGRESSION, "tricks": [{"name": "early_stopping", "metric": "val_accuracy"}]}, base_dir=JOBS)
    spec = validate_spec({**REGRESSION, "tricks": [{"name": "early_stopping", "metric": "val_rmse"}, "l1"]},
                         base_dir=JOBS)
    assert spec.tricks[0].metric == "val_rmse"
