"""Categorical columns to numbers: one-hot, label (sorted codes) and ordinal (a given order) encoding.

Categories are learnt from the training split; a category never seen there (or a missing value)
is one-hot encoded as all zeros, and label/ordinal encoded as `unknown` (-1 unless set).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from trainworks.data.preprocess import (NO_COLUMNS, PREPROCESSING, ColumnList, State, TableStep, pick_columns,
                                        replace_column)
from trainworks.registry import Params

UNKNOWN_HELP = "code for categories not seen in training and for missing values"


class OneHotParams(Params):
    """Which text columns become one indicator column per category."""

    columns: ColumnList = Field(None, description="columns to encode; every text column (never the target) if unset")


class OneHot:
    """Indicator columns for the training split's categories; missing or unseen values encode as all zeros."""

    def __init__(self, params: OneHotParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        names = pick_columns(table, self.params.columns, "text", keep_out)
        return {"categories": {name: training_categories(table.column(name)) for name in names}}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name, categories in state["categories"].items():
            indicators = indicator_rows(category_codes(table.column(name), categories), len(categories))
            position = table.column_names.index(name)
            table = table.remove_column(position)
            for code, category in enumerate(categories):
                table = table.add_column(position + code, f"{name}={category}", pa.array(indicators[code]))
        return table


def indicator_rows(codes: pa.ChunkedArray, count: int) -> np.ndarray:
    """count x N float32 of 0/1: row k marks where the code is k (a missing code marks none); one scatter pass."""
    values = pc.fill_null(codes, -1).to_numpy()
    out = np.zeros((count, len(values)), dtype=np.float32)
    known = np.flatnonzero(values >= 0)
    out[values[known], known] = 1.0
    return out


def training_categories(column: pa.ChunkedArray) -> list:
    """The distinct non-missing values, sorted, as plain Python values."""
    return sorted(value for value in pc.unique(column).to_pylist() if value is not None)


@PREPROCESSING.register("one_hot", OneHotParams, tags=("table",))
def one_hot(params: OneHotParams) -> TableStep:
    """One 0/1 column per category seen in training; unknown or missing categories are all zeros."""
    return OneHot(params)


def category_codes(column: pa.ChunkedArray, categories: list) -> pa.ChunkedArray:
    """Each value's position in `categories`; missing where the value is missing or not among them."""
    if not categories:  # the training split had no values at all
        return pa.chunked_array([pa.nulls(len(column), pa.int32())])
    value_set = pa.array(categories)
    if column.type != value_set.type:
        column = pc.cast(column, value_set.type)
    return pc.index_in(column, value_set=value_set)


def encode(table: pa.Table, state: State) -> pa.Table:
    """Each column replaced by its category's position in state['categories']; others get state['unknown']."""
    for name, categories in state["categories"].items():
        codes = pc.fill_null(category_codes(table.column(name), categories), state["unknown"])
        table = replace_column(table, name, pc.cast(codes, pa.int64()))
    return table


class LabelEncodeParams(Params):
    """Which columns become integer codes, in sorted order of their training categories."""

    columns: ColumnList = Field(None, description="columns to encode; every text column (never the target) if unset")
    unknown: int = Field(-1, description=UNKNOWN_HELP)


class LabelEncode:
    """Code i for the i-th training category in sorted order; `unknown` for unseen or missing values."""

    def __init__(self, params: LabelEncodeParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        names = pick_columns(table, self.params.columns, "text", keep_out)
        return {"categories": {name: training_categories(table.column(name)) for name in names},
                "unknown": self.params.unknown}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        return encode(table, state)


@PREPROCESSING.register("label_encode", LabelEncodeParams, tags=("table",))
def label_encode(params: LabelEncodeParams) -> TableStep:
    """Integer code per category (training categories sorted); unseen or missing values get -1."""
    return LabelEncode(params)


class OrdinalEncodeParams(Params):
    """The order of each column's categories, lowest first."""

    order: dict[str, list[str]] = Field(min_length=1, description="column -> its categories, lowest first "
                                                                 "(numbers in the column are matched as text)")
    unknown: int = Field(-1, description=UNKNOWN_HELP)

    @field_validator("order")
    @classmethod
    def _distinct(cls, order: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, categories in order.items():
            if not categories or len(set(categories)) != len(categories):
                raise ValueError(f"the order of '{name}' must list each category once")
        return order


class OrdinalEncode:
    """Code i for the i-th category of the given order; a training value outside the order is an error."""

    def __init__(self, params: OrdinalEncodeParams) -> None:
        self.params = params

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State:
        pick_columns(table, list(self.params.order), "any")
        for name, categories in self.params.order.items():
            seen = pc.cast(table.column(name), pa.string())
            stray = sorted(set(training_categories(seen)) - set(categories))
            if stray:
                raise ValueError(f"ordinal_encode: '{name}' has {', '.join(map(repr, stray))} in training, "
                                 f"not in its order; add them to order.{name}")
        return {"categories": {name: list(order) for name, order in self.params.order.items()},
                "unknown": self.params.unknown}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        return encode(table, state)


@PREPROCESSING.register("ordinal_encode", OrdinalEncodeParams, tags=("table",))
def ordinal_encode(params: OrdinalEncodeParams) -> TableStep:
    """Integer codes following a given category order (low to high); unseen or missing values get -1."""
    return OrdinalEncode(params)
