"""Reading CSV and Parquet tables with pyarrow, and turning finished tables into tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

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


def table_to_tensor(table: pa.Table) -> torch.Tensor:
    """float32 matrix of all columns, in order; every column must already be numeric and complete."""
    if table.num_columns == 0:
        return torch.empty((table.num_rows, 0), dtype=torch.float32)
    columns = [pc.cast(table.column(i), pa.float64()).to_numpy() for i in range(table.num_columns)]
    return torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))
