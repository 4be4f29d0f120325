"""Time-series features with no look-ahead: a feature at row t reads only rows <= t.

Order-dependent features (time since the previous row, lags, rolling windows) are missing until
enough history exists; the training split drops those first rows, other data keep them missing
(so inference needs at least that much history). Rows are taken in the order given: the time-series
data set sorts them by time first.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field

from trainworks.data.preprocess import (NO_COLUMNS, PREPROCESSING, State, TableStep, complete_rows,
                                        pick_columns, require_columns, require_numeric)
from trainworks.data.table import is_temporal
from trainworks.registry import Params

TIME_HELP = "timestamp or date column; the table's only one if unset"


def time_column(table: pa.Table, name: str | None) -> str:
    """The named timestamp column, or the table's only one; an error says which exist."""
    temporal = [n for n in table.column_names if is_temporal(table.column(n))]
    if name is None:
        if len(temporal) != 1:
            found = ", ".join(temporal) if temporal else "none"
            raise ValueError(f"name the time column: the table has {len(temporal)} timestamp columns ({found})")
        return temporal[0]
    require_columns(table, [name])
    if name not in temporal:
        raise ValueError(f"'{name}' is not a timestamp column (timestamp columns: {', '.join(temporal) or 'none'})")
    return name


def _add(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    """Append a feature column; an existing column of that name is replaced in place."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)


class DropsRowsWithoutHistory:
    """Order-dependent features: training rows where a feature this step made is still undefined are dropped."""

    def training_rows(self, table: pa.Table, state: State) -> pa.ChunkedArray | pa.Array:
        return complete_rows(table, state["outputs"])


# ---------------------------------------------------------------- calendar

Part = Literal["year", "month", "day", "weekday", "hour", "minute", "day_of_year", "week"]
# part -> (pyarrow function, offset to make it start at 0, period for sin/cos; None: not cyclic)
PARTS: dict[str, tuple[str, int, float | None]] = {
    "year": ("year", 0, None), "month": ("month", 1, 12), "day": ("day", 1, 31), "weekday": ("day_of_week", 0, 7),
    "hour": ("hour", 0, 24), "minute": ("minute", 0, 60), "day_of_year": ("day_of_year", 1, 365.25),
    "week": ("iso_week", 1, 53),
}


class TimestampPartsParams(Params):
    """Which calendar parts to extract, and whether cyclic parts become sin/cos pairs."""

    column: str | None = Field(None, description=TIME_HELP)
    parts: list[Part] = Field(["year", "month", "day", "weekday", "hour", "day_of_year"], min_length=1,
                              description="weekday: Monday 0 .. Sunday 6; day_of_year: 1..366; week: ISO week")
    cyclic: bool = Field(False, description="cyclic parts as sin and cos of their phase (December is next to "
                                            "January); year stays a number")


class TimestampParts:
    """Calendar parts of a timestamp as numeric columns; row-wise, so nothing to learn."""

    def __init__(self, params: TimestampPartsParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        return {"column": time_column(table, self.params.column), "parts": list(self.params.parts),
                "cyclic": self.params.cyclic}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        column = table.column(state["column"])
        for part in state["parts"]:
            for name, values in calendar_features(column, part, state["cyclic"]).items():
                table = _add(table, f"{state['column']}_{name}", values)
        return table


def calendar_features(column: pa.ChunkedArray, part: str, cyclic: bool) -> dict[str, pa.Array]:
    """One part as {name: values}: the number itself, or its sin and cos over its period."""
    function, offset, period = PARTS[part]
    values = pc.cast(getattr(pc, function)(column), pa.float64())
    if not cyclic or period is None:
        return {part: values}
    angle = pc.multiply(pc.subtract(values, offset), 2 * math.pi / period)
    return {f"{part}_sin": pc.sin(angle), f"{part}_cos": pc.cos(angle)}


@PREPROCESSING.register("timestamp_parts", TimestampPartsParams, tags=("table",))
def timestamp_parts(params: TimestampPartsParams) -> TableStep:
    """Calendar features (year, month, day, weekday, hour, day of year...) with optional cyclic sin/cos."""
    return TimestampParts(params)


# ---------------------------------------------------------------- time since previous row

Unit = Literal["seconds", "hours", "days"]
SECONDS_PER: dict[str, float] = {"seconds": 1.0, "hours": 3600.0, "days": 86400.0}


class TimeSinceParams(Params):
    """The time column and the unit of the gap."""

    column: str | None = Field(None, description=TIME_HELP)
    unit: Unit = "days"


class TimeSincePrevious(DropsRowsWithoutHistory):
    """Gap to the previous row's time; the first row has none (dropped from training, missing elsewhere)."""

    def __init__(self, params: TimeSinceParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        column = time_column(table, self.params.column)
        return {"column": column, "unit": self.params.unit, "outputs": [f"{column}_since_previous_{self.params.unit}"]}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        seconds = pc.cast(pc.cast(table.column(state["column"]), pa.timestamp("s")), pa.int64())
        gaps = pc.divide(pc.cast(pc.subtract(seconds, shift(seconds, 1)), pa.float64()), SECONDS_PER[state["unit"]])
        return _add(table, state["outputs"][0], gaps)


@PREPROCESSING.register("time_since_previous", TimeSinceParams, tags=("sequence",))
def time_since_previous(params: TimeSinceParams) -> TableStep:
    """Seconds, hours or days since the previous row (irregular sampling as a feature)."""
    return TimeSincePrevious(params)


# ---------------------------------------------------------------- lags

def shift(column: pa.ChunkedArray | pa.Array, lag: int) -> pa.Array:
    """The column moved down by `lag` rows: row t holds row t - lag, the first `lag` rows are missing."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lag = min(lag, len(values))
    return pa.concat_arrays([pa.nulls(lag, values.type), values.slice(0, len(values) - lag)])


PositiveLag = Annotated[int, Field(gt=0, le=100_000)]


class LagsParams(Params):
    """Which columns to lag, by how many rows."""

    columns: list[str] = Field(min_length=1, description="numeric columns to lag (the target may be one)")
    lags: list[PositiveLag] = Field(min_length=1, description="rows back: 1 is the previous row")


class Lags(DropsRowsWithoutHistory):
    """`<column>_lag<k>` = the value k rows earlier; rows before the first k are dropped from training."""

    def __init__(self, params: LagsParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        require_numeric(table, pick_columns(table, self.params.columns, "numeric"), "lags")
        outputs = [f"{name}_lag{lag}" for name in self.params.columns for lag in self.params.lags]
        return {"columns": list(self.params.columns), "lags": list(self.params.lags), "outputs": outputs}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name in state["columns"]:
            column = pc.cast(table.column(name), pa.float64())
            for lag in state["lags"]:
                table = _add(table, f"{name}_lag{lag}", shift(column, lag))
        return table


@PREPROCESSING.register("lags", LagsParams, tags=("sequence",))
def lags(params: LagsParams) -> TableStep:
    """Lag features: each column's value 1, 2, ... k rows earlier (never a later row)."""
    return Lags(params)


# ---------------------------------------------------------------- rolling windows

Stat = Literal["mean", "std", "min", "max"]
STATS = {"mean": np.mean, "std": np.std, "min": np.min, "max": np.max}


class RollingParams(Params):
    """Trailing windows over which to summarise each column."""

    columns: list[str] = Field(min_length=1, description="numeric columns to summarise (the target may be one)")
    windows: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        min_length=1, description="rows per window, ending at (and including) the current row")
    stats: list[Stat] = Field(["mean"], min_length=1, description="std is the population std (ddof 0)")


class Rolling(DropsRowsWithoutHistory):
    """`<column>_roll<w>_<stat>` over rows t-w+1..t; missing until w rows exist, or when the window has a gap."""

    def __init__(self, params: RollingParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        require_numeric(table, pick_columns(table, self.params.columns, "numeric"), "rolling")
        p = self.params
        outputs = [f"{name}_roll{w}_{stat}" for name in p.columns for w in p.windows for stat in p.stats]
        return {"columns": list(p.columns), "windows": list(p.windows), "stats": list(p.stats), "outputs": outputs}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name in state["columns"]:
            values = pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)
            for window in state["windows"]:
                for stat in state["stats"]:
                    summary = trailing_stat(values, window, stat)
                    table = _add(table, f"{name}_roll{window}_{stat}", pa.array(summary, from_pandas=True))
        return table


def trailing_stat(values: np.ndarray, window: int, stat: str) -> np.ndarray:
    """stat over rows t-window+1..t for each t; NaN for the first window-1 rows and where a window has a gap."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1:] = STATS[stat](sliding_window_view(values, window), axis=1)
    return out


@PREPROCESSING.register("rolling", RollingParams, tags=("sequence",))
def rolling(params: RollingParams) -> TableStep:
    """Trailing-window mean, std, min or max per column, ending at the current row (no look-ahead)."""
    return Rolling(params)
