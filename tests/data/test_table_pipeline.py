"""Tables through prepare_data: fitted on the training split, rows dropped with their targets, state re-applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
import torch

from tests.conftest import JOBS
from trainworks.data.prepare import prepare_data, split_indices
from trainworks.data.table import read_table, table_to_tensor
from trainworks.data.table_pipeline import pipeline_from_log
from trainworks.data.types import DataError
from trainworks.spec import SpecError, load_spec, validate_spec


def regression_csv(tmp_path: Path, n: int = 1000, outliers: int = 20) -> Path:
    """x heavy-tailed around 5 with `outliers` rows at 1000; y = 2x, so any misaligned row shows."""
    rng = np.random.default_rng(0)
    x = 5 + rng.standard_t(3, n)
    x[rng.choice(n, outliers, replace=False)] = 1000.0
    path = tmp_path / "xy.csv"
    pacsv.write_csv(pa.table({"x": x, "y": 2 * x}), path)
    return path


def table_spec(path: Path, steps: list, **dataset) -> object:
    return validate_spec({"data": {"dataset": {"name": "table", "path": str(path), "target": "y",
                                               "task": "regression", **dataset},
                                   "preprocessing": steps},
                          "model": "mlp", "loss": "mse", "training": {"epochs": 1}})


def test_outlier_rows_leave_the_training_split_with_their_targets_and_stay_in_validation(tmp_path: Path) -> None:
    data = prepare_data(table_spec(regression_csv(tmp_path), ["zscore_filter"]).data, seed=0)
    assert torch.equal(data.train.y, 2 * data.train.x)  # features and targets dropped together
    assert data.train.x.max() < 1000
    assert (data.val.x == 1000).sum() > 0 and torch.equal(data.val.y, 2 * data.val.x)
    assert len(data.val) == 200  # validation keeps every row


def test_scaling_statistics_come_from_the_training_split_only(tmp_path: Path) -> None:
    data = prepare_data(table_spec(regression_csv(tmp_path, outliers=0), ["standardize"]).data, seed=0)
    train = data.train.x[:, 0].double()
    assert train.mean().abs() < 1e-6 and (train.std(unbiased=False) - 1).abs() < 1e-6
    everything = torch.cat([data.train.x, data.val.x])[:, 0].double()
    assert everything.mean().abs() > 1e-3  # fitted on all rows, this would be 0
    raw_x = data.train.y[:, 0].double() / 2  # y = 2x, untouched: the target is never a default column
    assert data.preprocessing[0]["state"]["stats"]["x"]["mean"] == pytest.approx(raw_x.mean().item(), rel=1e-6)
    assert raw_x.mean() > 4


def test_the_logged_state_rebuilds_the_pipeline_that_reproduces_validation_inputs() -> None:
    spec = load_spec(JOBS / "penguins_mlp.yaml")
    data = prepare_data(spec.data, seed=0)
    logged = json.loads(json.dumps(data.preprocessing))  # what preprocessing/state.json holds
    table = read_table(JOBS / "data" / "penguins.csv")
    table = table.filter(pc.is_valid(table.column("species")))
    labels = torch.tensor([data.info.classes.index(s) for s in table.column("species").to_pylist()])
    _, val_rows = split_indices(labels, len(labels), spec.data.val_fraction, spec.data.split_seed)
    rebuilt = pipeline_from_log(logged).apply(table.take(pa.array(val_rows.numpy())))
    assert torch.equal(table_to_tensor(rebuilt.select(list(data.info.feature_names))), data.val.x)


def test_a_step_that_removes_the_target_is_an_error(tmp_path: Path) -> None:
    spec = validate_spec({"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "species"},
                                   "preprocessing": [{"name": "one_hot", "columns": ["species", "island", "sex"]},
                                                     "impute"]},
                          "model": "mlp", "training": {"epochs": 1}}, base_dir=JOBS)
    with pytest.raises(DataError, match="a step removed the target column 'species'"):
        prepare_data(spec.data, seed=0)


def test_timestamps_give_calendar_features_and_are_not_features_themselves(tmp_path: Path) -> None:
    path = tmp_path / "dated.csv"
    path.write_text("when,x,y\n" + "".join(f"2024-0{1 + i % 9}-1{i % 10},{i},{i % 2}\n" for i in range(40)))
    data = prepare_data(validate_spec({"data": {"dataset": {"name": "table", "path": str(path), "target": "y"},
                                                "preprocessing": [{"name": "timestamp_parts", "parts": ["month"]}]},
                                       "model": "mlp", "training": {"epochs": 1}}).data, seed=0)
    assert data.info.feature_names == ("x", "when_month")


def test_order_dependent_steps_are_refused_on_randomly_split_tables() -> None:
    with pytest.raises(SpecError, match=r"data.preprocessing\[0\].name: 'lags' works on sequences; data set 'table' "
                                        r"gives tables"):
        validate_spec({"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "species"},
                                "preprocessing": [{"name": "lags", "columns": ["body_mass_g"], "lags": [1]}]},
                       "model": "mlp", "training": {"epochs": 1}}, base_dir=JOBS)
