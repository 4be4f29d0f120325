"""Outliers: drop training rows outside z-score or IQR limits, or clip values to training quantiles.

The filters drop rows of the training split only; validation and inference rows are never dropped
(a model must answer for every row it is given). Missing values are not outliers: they pass.
"""

from __future__ import annotations

from typing import Annotated, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from trainworks.data.preprocess import (COLUMNS_HELP, NO_COLUMNS, PREPROCESSING, ColumnList, State, TableStep,
                                        pick_columns, replace_column, require_numeric)
from trainworks.registry import Params

Limits = Callable[[pa.ChunkedArray, float], list[float]]


class FilterParams(Params):
    """How far from the centre a training value may lie, and in which columns."""

    k: float = Field(3.0, gt=0.0, description="z-score: standard deviations; IQR: interquartile ranges")
    columns: ColumnList = Field(None, description=COLUMNS_HELP)


class IqrParams(FilterParams):
    """Tukey's fences: k interquartile ranges beyond the quartiles."""

    k: float = Field(1.5, gt=0.0, description="interquartile ranges beyond the first and third quartiles")


class RangeFilter:
    """Keeps training rows whose values all lie within per-column limits learnt from the training split."""

    def __init__(self, params: FilterParams, limits: Limits) -> None:
        self.params, self.limits = params, limits

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        names = pick_columns(table, self.params.columns, "numeric", keep_out)
        require_numeric(table, names, "an outlier filter")
        return {"limits": {name: self.limits(pc.cast(table.column(name), pa.float64()), self.params.k)
                           for name in names}}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        return table

    def training_rows(self, table: pa.Table, state: State) -> pa.Array:
        keep = np.ones(table.num_rows, dtype=bool)
        for name, (low, high) in state["limits"].items():
            values = pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)
            with np.errstate(invalid="ignore"):
                keep &= np.isnan(values) | ((values >= low) & (values <= high))
        return pa.array(keep)


def zscore_limits(values: pa.ChunkedArray, k: float) -> list[float]:
    """mean -/+ k population standard deviations."""
    mean, std = pc.mean(values).as_py() or 0.0, pc.stddev(values, ddof=0).as_py() or 0.0
    return [mean - k * std, mean + k * std]


def iqr_limits(values: pa.ChunkedArray, k: float) -> list[float]:
    """First quartile - k * IQR, third quartile + k * IQR."""
    q1, q3 = _quantiles(values, [0.25, 0.75])
    return [q1 - k * (q3 - q1), q3 + k * (q3 - q1)]


def _quantiles(values: pa.ChunkedArray, q: list[float]) -> list[float]:
    """Linear-interpolated quantiles of the non-missing values (0.0 for an empty column)."""
    found = pc.quantile(values, q=q, interpolation="linear").to_pylist()
    return [0.0 if value is None else value for value in found]


@PREPROCESSING.register("zscore_filter", FilterParams, tags=("table",))
def zscore_filter(params: FilterParams) -> TableStep:
    """Drop training rows more than k standard deviations from the training mean (other splits keep every row)."""
    return RangeFilter(params, zscore_limits)


@PREPROCESSING.register("iqr_filter", IqrParams, tags=("table",))
def iqr_filter(params: IqrParams) -> TableStep:
    """Drop training rows beyond k interquartile ranges outside the quartiles (other splits keep every row)."""
    return RangeFilter(params, iqr_limits)


Quantile = Annotated[float, Field(ge=0.0, le=1.0)]


class WinsorizeParams(Params):
    """The training quantiles that values are clipped to."""

    lower: Quantile = Field(0.01, description="values below this training quantile are raised to it")
    upper: Quantile = Field(0.99, description="values above this training quantile are lowered to it")
    columns: ColumnList = Field(None, description=COLUMNS_HELP)

    @model_validator(mode="after")
    def _ordered(self) -> WinsorizeParams:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self


class Winsorize:
    """Clip each column to its training quantiles; every split keeps every row, missing values stay missing."""

    def __init__(self, params: WinsorizeParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        names = pick_columns(table, self.params.columns, "numeric", keep_out)
        require_numeric(table, names, "winsorize")
        quantiles = [self.params.lower, self.params.upper]
        return {"limits": {name: _quantiles(table.column(name), quantiles) for name in names}}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name, (low, high) in state["limits"].items():
            values = pc.cast(table.column(name), pa.float64())
            clipped = pc.min_element_wise(pc.max_element_wise(values, low, skip_nulls=False), high, skip_nulls=False)
            table = replace_column(table, name, clipped)
        return table


@PREPROCESSING.register("winsorize", WinsorizeParams, tags=("table",))
def winsorize(params: WinsorizeParams) -> TableStep:
    """Clip numeric columns to the training split's lower and upper quantiles."""
    return Winsorize(params)
