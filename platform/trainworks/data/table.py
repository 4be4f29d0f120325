"""Reading CSV and Parquet tables with pyarrow, and turning finished tables into tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

from trainworks.data.types import DataError

NULL_MARKERS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: Path) -> pa.Table:
    """The whole table; CSV cells such as `NA` or empty read as missing values."""
    if path.suffix.lower() == ".csv":
        options = pacsv.ConvertOptions(null_values=NULL_MARKERS, strings_can_be_null=True)
        return pacsv.read_csv(path, convert_options=options)
    return pq.read_table(path)


def read_column_names(path: Path) -> list[str]:
    """Column names only, cheaply: the Parquet footer or the CSV header line."""
    if path.suffix.lower() == ".csv":
        reader = pacsv.open_csv(path, convert_options=pacsv.ConvertOptions(null_values=NULL_MARKERS))
        return reader.schema.names
    return pq.read_schema(path).names


def is_numeric(column: pa.ChunkedArray | pa.Array) -> bool:
    """True for integer, floating and boolean columns: the ones that go into a tensor as they are."""
    kind = column.type
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def is_text(column: pa.ChunkedArray | pa.Array) -> bool:
    """True for string and dictionary (categorical) columns: the ones an encoder must turn into numbers."""
    kind = column.type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind)


def is_temporal(column: pa.ChunkedArray | pa.Array) -> bool:
    """True for timestamp and date columns: sources of time features, never features themselves."""
    return pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)


def table_to_matrix(table: pa.Table, dtype: type = np.float64) -> np.ndarray:
    """Rows x columns array of all columns, in order (column-major: each column is written in one sweep)."""
    out = np.empty((table.num_columns, table.num_rows), dtype=dtype)
    for index in range(table.num_columns):
        out[index] = table.column(index).to_numpy()  # numpy converts while it copies
    return out.T


def table_to_tensor(table: pa.Table) -> torch.Tensor:
    """float32 matrix of all columns, in order, row-major; every column must already be numeric and complete."""
    return torch.from_numpy(table_to_matrix(table, np.float32).T).T.contiguous()


def feature_columns(table: pa.Table, exclude: frozenset[str] = frozenset()) -> list[str]:
    """The model's inputs: every column but `exclude` and timestamps (their parts are features, they are not)."""
    names = [name for name in table.column_names if name not in exclude and not is_temporal(table.column(name))]
    text = [name for name in names if not is_numeric(table.column(name))]
    if text:
        raise DataError("data.preprocessing", f"columns {', '.join(text)} hold text; add a one_hot step for them "
                                              "(or label_encode, ordinal_encode)")
    return names


def require_complete(table: pa.Table, columns: list[str], where: str) -> None:
    """Every named column must be complete by now; say which step would make it so."""
    missing = [name for name in columns if pc.any(pc.is_null(table.column(name), nan_is_null=True)).as_py()]
    if missing:
        raise DataError("data.preprocessing", f"columns {', '.join(missing)} have missing values {where}; add an "
                                              "impute (or, for time series, interpolate) step")
