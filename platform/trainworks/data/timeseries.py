"""Time series: a table sorted by time, split chronologically, preprocessed, then cut into windows.

A sample ending at row t holds rows t-window+1..t (every numeric column, the target among them: its
past is an input) and predicts the target at rows t+1..t+horizon. The last `val_fraction` of rows are
validation targets; their windows may reach back into training rows (the past is known when
forecasting), never the other way. Preprocessing is fitted on the training rows only; the target
column goes through the steps like any other column, so y is in the units they leave it in (a
`standardize` step scales it too; its mean and std are in the logged state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, ValidationInfo, field_validator

from trainworks.data.datasets import DATASETS, LoadedData, require_file_columns
from trainworks.data.preprocess import TableStep
from trainworks.data.table import TABLE_SUFFIXES, feature_columns, read_table, require_complete
from trainworks.data.table_pipeline import fit_pipeline
from trainworks.data.types import DataBundle, DataError, DataInfo, RawSeries, Split
from trainworks.paths import ExistingFile
from trainworks.registry import Params

Steps = Annotated[int, Field(gt=0, le=100_000)]


class TimeSeriesParams(Params):
    """A CSV or Parquet series: its time column, what to forecast, how far back to look and how far ahead."""

    path: ExistingFile = Field(description="CSV or Parquet file (relative to the job file)")
    time: str = Field(description="column holding each row's time")
    time_format: str | None = Field(None, description="strptime format of the time column, e.g. '%Y%m%d' for "
                                                      "20240131; unset: the column is a timestamp or ISO 8601 text")
    target: str = Field(description="column to forecast; its past is an input too, so steps treat it like any "
                                    "other column (y is in the units they leave it in)")
    features: list[str] | None = Field(None, description="other input columns; every column but time and "
                                                         "target if unset")
    window: Steps = Field(description="past rows in each sample, the current one included")
    horizon: Steps = Field(1, description="rows ahead to predict: the target at t+1 .. t+horizon")
    predict: Literal["value", "change"] = Field(
        "value", description="the target itself, or its change since the window's last row (for trending series: "
                             "a model need not extrapolate levels it never saw; forecast = last value + change)")

    @property
    def task(self) -> Literal["regression"]:
        """Forecasting is regression."""
        return "regression"

    @field_validator("path")
    @classmethod
    def _known_format(cls, path: Path) -> Path:
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise ValueError(f"'{path.name}' is not a table; expected one of {', '.join(TABLE_SUFFIXES)}")
        return path

    @field_validator("time", "target")
    @classmethod
    def _column_exists(cls, name: str, info: ValidationInfo) -> str:
        require_file_columns(info, [name])
        if info.field_name == "target" and name == info.data.get("time"):
            raise ValueError(f"'{name}' is the time column; the target must be another column")
        return name

    @field_validator("features")
    @classmethod
    def _features_exist(cls, features: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if features is not None:
            require_file_columns(info, features)
            clash = {info.data.get("time"), info.data.get("target")} & set(features)
            if clash:
                raise ValueError(f"{', '.join(map(repr, sorted(clash)))} is already the time or target column; "
                                 "leave it out of features")
        return features


@DATASETS.register("timeseries", TimeSeriesParams, tags=("sequence",))
def load_timeseries(params: TimeSeriesParams) -> LoadedData:
    """A time series from CSV or Parquet, sorted by time, cut into (window, features) -> horizon samples."""
    table = read_table(params.path)
    features = params.features or [n for n in table.column_names if n not in (params.time, params.target)]
    table = table.select([params.time, *features, params.target])
    times = parse_times(table.column(params.time), params.time_format)
    table = table.set_column(0, params.time, times).sort_by(params.time)
    return LoadedData(RawSeries(table, params.time, params.target, params.window, params.horizon, params.predict))


def parse_times(column: pa.ChunkedArray, time_format: str | None) -> pa.ChunkedArray:
    """The time column as timestamps (seconds); fails on missing or unreadable times, naming the spec field."""
    if column.null_count:
        raise DataError("data.dataset.time", f"{column.null_count} rows have no time; every row needs one")
    try:
        if time_format is not None:
            return pc.strptime(pc.cast(column, pa.string()), format=time_format, unit="s")
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type) or pa.types.is_string(column.type):
            return pc.cast(column, pa.timestamp("s"))
    except pa.ArrowInvalid as error:
        raise DataError("data.dataset.time_format", f"cannot read the times: {error}") from None
    raise DataError("data.dataset.time_format", f"the time column holds {column.type} values; give their "
                                                "strptime format, e.g. '%Y%m%d' or '%Y'")


def chronological_split(table: pa.Table, val_fraction: float) -> int:
    """Rows before this index train, the rest validate: the last `val_fraction` of the (time-sorted) rows."""
    return table.num_rows - round(table.num_rows * val_fraction)


def prepare_series(series: RawSeries, steps: Sequence[TableStep], val_fraction: float) -> DataBundle:
    """Fit the steps on the training rows, apply them to all rows, and cut both splits into windows."""
    n_train = chronological_split(series.table, val_fraction)
    pipeline, train = fit_pipeline(steps, series.table.slice(0, n_train))
    whole = pipeline.apply(series.table)  # every row kept: validation windows read the rows before them
    if series.target not in train.column_names:
        raise DataError("data.preprocessing", f"a step removed the target column '{series.target}'")
    names = feature_columns(train)
    earliest_val_window = max(n_train - series.window, 0)
    train_split = windows(train, names, series, "in the training rows")
    val_split = windows(whole.slice(earliest_val_window), names, series, "in the validation windows")
    info = DataInfo("regression", "sequence", (series.window, len(names)), series.horizon, (), tuple(names))
    return DataBundle(train_split, val_split, info, list(pipeline.states))


def windows(table: pa.Table, names: list[str], series: RawSeries, where: str) -> Split:
    """Every full window of the table: x (N, window, features) from rows t-window+1..t, y (N, horizon) after t."""
    window, horizon = series.window, series.horizon
    count = table.num_rows - window - horizon + 1
    if count < 1:
        raise DataError("data.dataset.window", f"{table.num_rows} rows {where} hold no window of {window} rows "
                                               f"plus {horizon} ahead; use a smaller window or val_fraction")
    require_complete(table, list(dict.fromkeys([*names, series.target])), where)
    features = np.stack([_floats(table.column(name)) for name in names], axis=1)
    target = _floats(table.column(series.target))
    x = sliding_window_view(features, window, axis=0)[:count].transpose(0, 2, 1)
    y = sliding_window_view(target[window:], horizon)[:count]
    if series.predict == "change":
        y = y - target[window - 1:window - 1 + count, None]
    return Split(torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y)))  # copies: the views are read-only


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float32)
