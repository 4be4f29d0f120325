"""Missing values: fill with a training statistic, drop training rows, or interpolate along the rows."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from trainworks.data.preprocess import (COLUMNS_HELP, NO_COLUMNS, PREPROCESSING, ColumnList, State, TableStep,
                                        complete_rows, pick_columns, replace_column, require_numeric)
from trainworks.data.steps.time import time_column
from trainworks.data.table import is_numeric
from trainworks.registry import Params


class ImputeParams(Params):
    """How to fill missing values."""

    strategy: Literal["mean", "median", "most_frequent"] = "mean"
    columns: ColumnList = Field(None, description=COLUMNS_HELP)


class Impute:
    """Fill missing cells with a statistic of the training split."""

    def __init__(self, params: ImputeParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        strategy = self.params.strategy
        if self.params.columns is None:
            names = [n for n in pick_columns(table, None, "any", keep_out)
                     if table.column(n).null_count and self._suits(table, n)]
        else:
            names = pick_columns(table, self.params.columns, "any")
            text = [name for name in names if not self._suits(table, name)]
            if text:
                raise ValueError(f"impute {strategy} needs numbers; {', '.join(text)} hold text: use most_frequent")
        return {"fill": {name: _statistic(table.column(name), strategy) for name in names}}

    def _suits(self, table: pa.Table, name: str) -> bool:
        return self.params.strategy == "most_frequent" or is_numeric(table.column(name))

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name, value in state["fill"].items():
            column = table.column(name)
            if is_numeric(column):
                column = pc.cast(column, pa.float64())
            table = replace_column(table, name, pc.fill_null(column, value))
        return table


def _statistic(column: pa.ChunkedArray, strategy: str) -> Any:
    """mean, median or most frequent (ties: the smallest) non-missing value, as a plain Python value."""
    if strategy == "mean":
        return pc.mean(column).as_py()
    if strategy == "median":
        return pc.quantile(column, q=0.5, interpolation="linear")[0].as_py()
    counts = pc.value_counts(column.drop_null()).to_pylist()
    return min(counts, key=lambda item: (-item["counts"], item["values"]))["values"] if counts else None


@PREPROCESSING.register("impute", ImputeParams, tags=("table",))
def impute(params: ImputeParams) -> TableStep:
    """Fill missing values with the training split's mean, median or most frequent value."""
    return Impute(params)


class DropMissingParams(Params):
    """Which columns must be complete for a training row to stay."""

    columns: ColumnList = Field(None, description="columns checked; every column but the target if unset")


class DropMissing:
    """Keeps training rows complete in the chosen columns; validation and inference rows are never dropped."""

    def __init__(self, params: DropMissingParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        return {"columns": pick_columns(table, self.params.columns, "any", keep_out)}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        return table

    def training_rows(self, table: pa.Table, state: State) -> pa.ChunkedArray | pa.Array:
        return complete_rows(table, state["columns"])


@PREPROCESSING.register("drop_missing", DropMissingParams, tags=("table",))
def drop_missing(params: DropMissingParams) -> TableStep:
    """Drop training rows with a missing value in the given columns (other splits keep theirs: impute them)."""
    return DropMissing(params)


class InterpolateParams(Params):
    """Fill gaps from the neighbouring known values along the row order or the time axis."""

    method: Literal["linear", "time"] = Field(
        "linear", description="linear: rows equally spaced; time: weighted by the timestamps' distances")
    columns: ColumnList = Field(None, description="numeric columns to fill; every numeric column if unset")
    time: str | None = Field(None, description="timestamp column for method time; the table's only one if unset")


class Interpolate:
    """Linear interpolation between the nearest known values before and after each gap; ends take the nearest value."""

    def __init__(self, params: InterpolateParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        names = pick_columns(table, self.params.columns, "numeric", keep_out)
        require_numeric(table, names, "interpolate")
        time = time_column(table, self.params.time) if self.params.method == "time" else None
        return {"columns": names, "time": time}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        positions = _positions(table, state["time"])
        for name in state["columns"]:
            table = replace_column(table, name, pa.array(interpolate_gaps(_floats(table.column(name)), positions)))
        return table


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """float64 values with NaN where a value is missing."""
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def _positions(table: pa.Table, time: str | None) -> np.ndarray:
    """Where each row lies on the axis of interpolation: its row number or its time in seconds."""
    if time is None:
        return np.arange(table.num_rows, dtype=np.float64)
    column = table.column(time)
    if column.null_count:
        raise ValueError(f"interpolate by time needs every time; '{time}' has {column.null_count} missing")
    seconds = pc.cast(pc.cast(column, pa.timestamp("s")), pa.int64()).to_numpy().astype(np.float64)
    if np.any(np.diff(seconds) < 0):
        raise ValueError(f"interpolate by time needs the rows in time order; '{time}' goes backwards")
    return seconds


def interpolate_gaps(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """NaNs replaced by the line through their known neighbours; gaps at either end take the nearest value."""
    missing = np.isnan(values)
    if not missing.any() or missing.all():
        return values
    filled = values.copy()
    filled[missing] = np.interp(positions[missing], positions[~missing], values[~missing])
    return filled


@PREPROCESSING.register("interpolate", InterpolateParams, tags=("sequence",))
def interpolate(params: InterpolateParams) -> TableStep:
    """Fill gaps linearly between neighbouring values, by row order or time-aware (uses the value after a gap)."""
    return Interpolate(params)
