"""Scaling: shift and scale numeric columns with the training split's statistics."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from trainworks.data.preprocess import (COLUMNS_HELP, NO_COLUMNS, PREPROCESSING, ColumnList, State, TableStep,
                                        pick_columns, replace_column, require_numeric)
from trainworks.registry import Params


class ScaleParams(Params):
    """Which numeric columns to scale."""

    columns: ColumnList = Field(None, description=COLUMNS_HELP)


class AffineScale:
    """(x - shift) / scale per column; fit learns shift and scale, apply reuses them on any split."""

    shift_key: str  # which learnt statistic is subtracted
    scale_key: str  # which learnt statistic divides

    def __init__(self, params: ScaleParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        names = pick_columns(table, self.params.columns, "numeric", keep_out)
        require_numeric(table, names, "scaling")
        return {"stats": {name: self.statistics(pc.cast(table.column(name), pa.float64())) for name in names}}

    def statistics(self, values: pa.ChunkedArray) -> dict[str, float]:
        """The named statistics of one training column, shift_key and scale_key among them."""
        raise NotImplementedError

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name, stat in state["stats"].items():
            values = pc.cast(table.column(name), pa.float64())
            shift, scale = stat[self.shift_key], stat[self.scale_key]
            table = replace_column(table, name, pc.divide(pc.subtract(values, shift), scale))
        return table


class Standardize(AffineScale):
    """(x - mean) / std with the training split's statistics; a constant column is only centred."""

    shift_key, scale_key = "mean", "std"

    def statistics(self, values: pa.ChunkedArray) -> dict[str, float]:
        std = pc.stddev(values, ddof=0).as_py() or 0.0
        return {"mean": pc.mean(values).as_py() or 0.0, "std": std if std > 0 else 1.0}


class MinMax(AffineScale):
    """(x - min) / (max - min) with the training split's range; a constant column becomes 0."""

    shift_key, scale_key = "min", "range"

    def statistics(self, values: pa.ChunkedArray) -> dict[str, float]:
        extremes = pc.min_max(values).as_py()
        low, high = extremes["min"] or 0.0, extremes["max"] or 0.0
        return {"min": low, "max": high, "range": (high - low) if high > low else 1.0}


@PREPROCESSING.register("standardize", ScaleParams, tags=("table",))
def standardize(params: ScaleParams) -> TableStep:
    """Centre and scale numeric columns to mean 0, std 1 on the training split."""
    return Standardize(params)


@PREPROCESSING.register("minmax", ScaleParams, tags=("table",))
def minmax(params: ScaleParams) -> TableStep:
    """Scale numeric columns to [0, 1] on the training split (other data may fall outside)."""
    return MinMax(params)
