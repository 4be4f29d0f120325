"""The time-series data set: chronological split, windows that look only back, CO2 gaps filled, an MLP trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import JOBS
from tests.data.steps import fit as fit_step
from trainworks.cli import app
from trainworks.data import DATASETS
from trainworks.data.prepare import prepare_data
from trainworks.data.timeseries import TimeSeriesParams
from trainworks.data.types import DataError
from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.loop import evaluate, fit
from trainworks.spec import SpecError, validate_spec

CO2 = JOBS / "data" / "co2_weekly.csv"
CO2_DATASET = {"name": "timeseries", "path": "data/co2_weekly.csv", "time": "date", "time_format": "%Y%m%d",
               "target": "co2", "window": 52, "horizon": 1}
CO2_STEPS = [{"name": "interpolate", "method": "time"},
             {"name": "timestamp_parts", "parts": ["month"], "cyclic": True},
             {"name": "lags", "columns": ["co2"], "lags": [1, 52]},
             {"name": "rolling", "columns": ["co2"], "windows": [4], "stats": ["mean"]},
             {"name": "standardize"}]


def co2_spec(steps: list | None = None, **dataset) -> object:
    return validate_spec({"data": {"dataset": {**CO2_DATASET, **dataset}, "val_fraction": 0.2,
                                   "preprocessing": CO2_STEPS if steps is None else steps},
                          "model": "mlp", "loss": "mse", "training": {"epochs": 1}}, base_dir=JOBS)


def counting_csv(tmp_path: Path, n: int = 50, shuffled: bool = True) -> Path:
    """Daily rows whose target is the day number, written in shuffled order (the data set must sort them)."""
    days = np.arange(n)
    order = np.random.default_rng(0).permutation(n) if shuffled else days
    dates = [f"2020{1 + d // 28:02d}{1 + d % 28:02d}" for d in days[order]]
    path = tmp_path / "count.csv"
    pacsv.write_csv(pa.table({"day": pa.array(dates), "value": days[order].astype(float),
                              "other": -days[order].astype(float)}), path)
    return path


def count_spec(path: Path, steps: list | None = None, **dataset) -> object:
    return validate_spec({"data": {"dataset": {"name": "timeseries", "path": str(path), "time": "day",
                                               "time_format": "%Y%m%d", "target": "value", "window": 3,
                                               "horizon": 2, **dataset},
                                   "val_fraction": 0.2, "preprocessing": steps or []},
                          "model": "mlp", "loss": "mse", "training": {"epochs": 1, "batch_size": 4}})


def test_windows_look_back_and_targets_look_ahead(tmp_path: Path) -> None:
    data = prepare_data(count_spec(counting_csv(tmp_path)).data, seed=0)
    assert data.info.feature_names == ("other", "value") and data.info.input_shape == (3, 2)
    assert data.info.modality == "sequence" and data.info.task == "regression" and data.info.num_outputs == 2
    x, y = data.train.x, data.train.y
    assert x.shape == (36, 3, 2) and y.shape == (36, 2) and x.dtype == y.dtype == torch.float32
    last_input = x[:, -1, 1]
    assert torch.equal(x[:, :, 1], last_input[:, None] + torch.tensor([-2.0, -1.0, 0.0]))  # rows t-2 .. t
    assert torch.equal(y, last_input[:, None] + torch.tensor([1.0, 2.0]))  # the target at t+1, t+2


def test_the_split_is_chronological(tmp_path: Path) -> None:
    data = prepare_data(count_spec(counting_csv(tmp_path)).data, seed=0)
    assert data.train.y.max() == 39 and data.val.y.min() == 40  # every validation time after every training time
    assert data.val.y.max() == 49 and len(data.val) == 9  # every validation target has a window
    assert data.val.x[0, :, 1].tolist() == [37.0, 38.0, 39.0]  # the first one reads the last training rows


def test_preprocessing_is_fitted_on_the_training_rows_only(tmp_path: Path) -> None:
    data = prepare_data(count_spec(counting_csv(tmp_path), ["standardize"]).data, seed=0)
    stats = data.preprocessing[0]["state"]["stats"]["value"]
    assert stats["mean"] == pytest.approx(np.arange(40).mean())  # days 0..39; all 50 days would give 24.5
    assert stats["std"] == pytest.approx(np.arange(40).std())


def test_co2_gaps_are_filled_between_their_neighbours_by_time() -> None:
    params = TimeSeriesParams(**{key: value for key, value in CO2_DATASET.items() if key not in ("name", "path")},
                              path=CO2)
    raw = DATASETS.get("timeseries").build(params).train.table
    values = raw.column("co2").to_numpy(zero_copy_only=False)
    gaps = np.flatnonzero(np.isnan(values))
    assert len(gaps) == 59
    _, filled_table = fit_step("interpolate", raw, method="time")
    filled = filled_table.column("co2").to_numpy()
    assert not np.isnan(filled).any() and np.array_equal(filled[~np.isnan(values)], values[~np.isnan(values)])
    known = np.flatnonzero(~np.isnan(values))
    seconds = pc.cast(raw.column("date"), pa.int64()).to_numpy()
    for gap in gaps:
        before, after = known[known < gap].max(), known[known > gap].min()
        share = (seconds[gap] - seconds[before]) / (seconds[after] - seconds[before])
        assert filled[gap] == pytest.approx(values[before] + share * (values[after] - values[before]))
        assert min(values[before], values[after]) <= filled[gap] <= max(values[before], values[after])


def test_the_co2_forecasting_spec_validates_from_the_command_line(tmp_path: Path) -> None:
    job = tmp_path / "co2.yaml"
    job.write_text(f"""
data:
  dataset: {{name: timeseries, path: {CO2}, time: date, time_format: "%Y%m%d", target: co2, window: 52, horizon: 1}}
  val_fraction: 0.2
  preprocessing:
    - {{name: interpolate, method: time}}
    - {{name: timestamp_parts, parts: [month], cyclic: true}}
    - {{name: lags, columns: [co2], lags: [1, 52]}}
    - {{name: rolling, columns: [co2], windows: [4], stats: [mean]}}
    - {{name: standardize}}
model: mlp
loss: mse
training: {{epochs: 1}}
""")
    result = CliRunner().invoke(app, ["validate", str(job)])
    assert result.exit_code == 0, result.output
    # 1827 training rows - 52 without lag 52 - 3 without a 4-row mean = 1772 rows -> 1720 windows of 52 (+1 ahead)
    assert "1720 training and 457 validation examples, input shape (52, 6), 1 outputs" in result.output


class Silent:
    """A reporter that saves nothing."""

    def epoch_end(self, record, save) -> None:
        pass

    def fit_end(self, save) -> None:
        pass


def test_an_mlp_learns_from_co2_windows_in_one_epoch() -> None:
    spec = co2_spec()
    data = prepare_data(spec.data, seed=0)
    parts = build_parts(spec, data, torch.device("cpu"))
    before = evaluate(parts.model, data.val, parts, 256, "fp32", SingleProcess()).metrics["val_loss"]
    result = fit(parts, loop_settings(spec), SingleProcess(), Silent(), None)
    after = result.history[-1].metrics
    assert after["val_loss"] < before / 10 and np.isfinite(after["val_rmse"])


def test_sunspots_read_years_with_a_year_format() -> None:
    spec = validate_spec({"data": {"dataset": {"name": "timeseries", "path": "data/sunspots_yearly.csv",
                                               "time": "YEAR", "time_format": "%Y", "target": "SUNACTIVITY",
                                               "window": 10, "horizon": 3},
                                   "preprocessing": [{"name": "minmax"}]},
                          "model": "mlp", "loss": "mse", "training": {"epochs": 1}}, base_dir=JOBS)
    data = prepare_data(spec.data, seed=0)
    assert data.info.input_shape == (10, 1) and data.train.y.shape[1] == 3
    # 247 training rows, 62 validation rows; windows whose 3 targets straddle the boundary belong to neither
    assert (len(data.train), len(data.val)) == (247 - 10 - 3 + 1, 62 - 3 + 1)


def test_integer_times_need_a_format_and_windows_need_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.dataset.time_format: the time column holds int64 values; give "):
        prepare_data(co2_spec(time_format=None).data, seed=0)
    with pytest.raises(DataError, match=r"data.dataset.window: .* hold no window of 45 rows"):
        prepare_data(count_spec(counting_csv(tmp_path), window=45).data, seed=0)


def test_gaps_left_in_the_series_are_reported() -> None:
    with pytest.raises(DataError, match="columns co2 have missing values in the training rows; add an impute"):
        prepare_data(co2_spec([]).data, seed=0)


def test_table_steps_run_on_series_but_image_steps_do_not() -> None:
    with pytest.raises(SpecError, match=r"data.preprocessing\[1\].name: 'resize' works on images; data set "
                                        r"'timeseries' gives sequences"):
        co2_spec([CO2_STEPS[0], {"name": "resize", "size": 8}])
    with pytest.raises(SpecError, match=r"'hflip' works on images"):
        validate_spec({"data": {"dataset": CO2_DATASET, "augmentation": ["hflip"]},
                       "model": "mlp", "loss": "mse", "training": {"epochs": 1}}, base_dir=JOBS)
    with pytest.raises(SpecError, match="'cross_entropy' does not fit a regression task"):
        validate_spec({"data": {"dataset": CO2_DATASET}, "model": "mlp", "training": {"epochs": 1}}, base_dir=JOBS)


def test_the_target_and_time_columns_are_checked_when_the_spec_loads() -> None:
    with pytest.raises(SpecError, match="no column 'ppm' in co2_weekly.csv; columns: date, co2"):
        co2_spec(target="ppm")
    with pytest.raises(SpecError, match="'date' is the time column"):
        co2_spec(target="date")


def test_the_time_column_is_sorted_and_parsed(tmp_path: Path) -> None:
    raw = DATASETS.get("timeseries").build(count_spec(counting_csv(tmp_path)).data.dataset).train.table
    assert pa.types.is_timestamp(raw.column("day").type)
    assert pc.all(pc.greater(raw.column("day").slice(1), raw.column("day").slice(0, len(raw) - 1))).as_py()
