"""Preprocessing steps by name: fitted on the training split only, state saved, re-applied unchanged.

A step is two pure functions: `fit(train) -> state` and `apply(data, state) -> data`. The state is
plain JSON, so it is logged with the model and re-applied at inference. Table steps keep every row;
a step that also drops training rows (outliers, missing values, rows whose lags are not yet defined)
says which with `training_rows`, which the pipeline calls on the training split only.
The steps themselves live in `trainworks.data.steps`, one module per family.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from trainworks.data.table import is_numeric, is_temporal, is_text
from trainworks.registry import Registry

State = dict[str, Any]
NO_COLUMNS: frozenset[str] = frozenset()


class TableStep(Protocol):
    """A step over pyarrow tables; `keep_out` names columns (the target) that default selections skip."""

    def fit(self, table: pa.Table, keep_out: frozenset[str] = NO_COLUMNS) -> State: ...

    def apply(self, table: pa.Table, state: State) -> pa.Table: ...


@runtime_checkable
class RowFilter(Protocol):
    """A table step that also drops rows of the training split (never of validation or inference data)."""

    def training_rows(self, table: pa.Table, state: State) -> pa.Array | pa.ChunkedArray:
        """Boolean mask over `apply`'s output: True for training rows to keep."""
        ...


class ImageStep(Protocol):
    """A step over float image batches N,C,H,W."""

    def fit(self, images: torch.Tensor) -> State: ...

    def apply(self, images: torch.Tensor, state: State) -> torch.Tensor: ...


PREPROCESSING: Registry = Registry("preprocessing step")

ColumnList = list[str] | None
COLUMNS_HELP = "columns to act on; every suitable column (never the target) if unset"


ColumnKind = Literal["numeric", "text", "time", "any"]
KIND_TESTS: dict[str, Callable[[pa.ChunkedArray], bool]] = {
    "numeric": is_numeric, "text": is_text, "time": is_temporal, "any": lambda column: True}


def pick_columns(table: pa.Table, columns: ColumnList, kind: ColumnKind,
                 keep_out: frozenset[str] = NO_COLUMNS) -> list[str]:
    """The named columns, or by default every column of that kind that is not kept out (the target)."""
    if columns is not None:
        require_columns(table, columns)
        return list(columns)
    suits = KIND_TESTS[kind]
    return [name for name in table.column_names if name not in keep_out and suits(table.column(name))]


def require_columns(table: pa.Table, columns: list[str]) -> None:
    """Fail with the table's real column names when a named column is not in it."""
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise ValueError(f"no column {', '.join(map(repr, missing))}; columns: {', '.join(table.column_names)}")


def require_numeric(table: pa.Table, columns: list[str], step: str) -> None:
    """Fail naming the columns that hold text where a step needs numbers."""
    text = [name for name in columns if not is_numeric(table.column(name))]
    if text:
        raise ValueError(f"{step} needs numbers; {', '.join(text)} hold text")


def replace_column(table: pa.Table, name: str, column: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The table with column `name` swapped for `column`, in the same position."""
    return table.set_column(table.column_names.index(name), name, column)


def complete_rows(table: pa.Table, columns: list[str]) -> pa.ChunkedArray | pa.Array:
    """True where every named column holds a value (NaN counts as missing)."""
    keep = pa.array(np.ones(table.num_rows, dtype=bool))
    for name in columns:
        keep = pc.and_(keep, pc.invert(pc.is_null(table.column(name), nan_is_null=True)))
    return keep
