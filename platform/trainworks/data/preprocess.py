"""Preprocessing steps by name: fitted on the training split only, state saved, re-applied unchanged.

A step is two pure functions: `fit(train) -> state` and `apply(data, state) -> data`. The state is
plain JSON, so it is logged with the model and re-applied at inference.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
from pydantic import Field

from trainworks.data.table import is_numeric
from trainworks.registry import Params, Registry

State = dict[str, Any]


class TableStep(Protocol):
    """A step over pyarrow tables."""

    def fit(self, table: pa.Table) -> State: ...

    def apply(self, table: pa.Table, state: State) -> pa.Table: ...


class ImageStep(Protocol):
    """A step over float image batches N,C,H,W."""

    def fit(self, images: torch.Tensor) -> State: ...

    def apply(self, images: torch.Tensor, state: State) -> torch.Tensor: ...


PREPROCESSING: Registry = Registry("preprocessing step")

ColumnList = list[str] | None
COLUMNS_HELP = "columns to act on; every suitable column if unset"


def _pick(table: pa.Table, columns: ColumnList, numeric: bool) -> list[str]:
    """The named columns, or every numeric (or every text) column when none are named."""
    if columns is not None:
        missing = [name for name in columns if name not in table.column_names]
        if missing:
            raise ValueError(f"no column {', '.join(map(repr, missing))}; columns: {', '.join(table.column_names)}")
        return list(columns)
    return [name for name in table.column_names if is_numeric(table.column(name)) == numeric]


def _replace(table: pa.Table, name: str, column: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, column)


# ---------------------------------------------------------------- tables


class ImputeParams(Params):
    """How to fill missing values."""

    strategy: Literal["mean", "median", "most_frequent"] = "mean"
    columns: ColumnList = Field(None, description=COLUMNS_HELP)


class Impute:
    """Fill missing cells with a statistic of the training split."""

    def __init__(self, params: ImputeParams) -> None:
        self.params = params

    def fit(self, table: pa.Table) -> State:
        strategy = self.params.strategy
        if self.params.columns is None:
            names = [n for n in table.column_names if table.column(n).null_count and self._suits(table, n)]
        else:
            names = _pick(table, self.params.columns, numeric=True)
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
            table = _replace(table, name, pc.fill_null(column, value))
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


class OneHotParams(Params):
    """Which text columns become one indicator column per category."""

    columns: ColumnList = Field(None, description="columns to encode; every text column if unset")


class OneHot:
    """Indicator columns for the training split's categories; missing or unseen values encode as all zeros."""

    def __init__(self, params: OneHotParams) -> None:
        self.params = params

    def fit(self, table: pa.Table) -> State:
        names = _pick(table, self.params.columns, numeric=False)
        return {"categories": {name: sorted(v for v in pc.unique(table.column(name)).to_pylist() if v is not None)
                               for name in names}}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name, categories in state["categories"].items():
            column = table.column(name)
            position = table.column_names.index(name)
            table = table.remove_column(position)
            for offset, category in enumerate(categories):
                hit = pc.fill_null(pc.equal(column, pa.scalar(category, column.type)), False)
                table = table.add_column(position + offset, f"{name}={category}", pc.cast(hit, pa.float32()))
        return table


@PREPROCESSING.register("one_hot", OneHotParams, tags=("table",))
def one_hot(params: OneHotParams) -> TableStep:
    """One 0/1 column per category seen in training; unknown or missing categories are all zeros."""
    return OneHot(params)


class StandardizeParams(Params):
    """Which numeric columns to centre and scale."""

    columns: ColumnList = Field(None, description=COLUMNS_HELP)


class Standardize:
    """(x - mean) / std with the training split's statistics; a constant column is only centred."""

    def __init__(self, params: StandardizeParams) -> None:
        self.params = params

    def fit(self, table: pa.Table) -> State:
        names = _pick(table, self.params.columns, numeric=True)
        stats = {}
        for name in names:
            values = pc.cast(table.column(name), pa.float64())
            std = pc.stddev(values, ddof=0).as_py() or 0.0
            stats[name] = {"mean": pc.mean(values).as_py() or 0.0, "std": std if std > 0 else 1.0}
        return {"stats": stats}

    def apply(self, table: pa.Table, state: State) -> pa.Table:
        for name, stat in state["stats"].items():
            values = pc.cast(table.column(name), pa.float64())
            table = _replace(table, name, pc.divide(pc.subtract(values, stat["mean"]), stat["std"]))
        return table


@PREPROCESSING.register("standardize", StandardizeParams, tags=("table",))
def standardize(params: StandardizeParams) -> TableStep:
    """Centre and scale numeric columns to mean 0, std 1 on the training split."""
    return Standardize(params)


# ---------------------------------------------------------------- images

Size = Annotated[int, Field(gt=0, le=4096)]


class ResizeParams(Params):
    """Target image size."""

    size: Size | tuple[Size, Size] = Field(description="pixels: one number for square, or [height, width]")


class Resize:
    """Bilinear resize (antialiased when shrinking); stateless."""

    def __init__(self, params: ResizeParams) -> None:
        size = params.size
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def fit(self, images: torch.Tensor) -> State:
        return {"size": list(self.size)}

    def apply(self, images: torch.Tensor, state: State) -> torch.Tensor:
        size = tuple(state["size"])
        if tuple(images.shape[-2:]) == size:
            return images
        antialias = images.shape[-2] > size[0] or images.shape[-1] > size[1]
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=antialias)


@PREPROCESSING.register("resize", ResizeParams, tags=("image",))
def resize(params: ResizeParams) -> ImageStep:
    """Resize images to a fixed height and width."""
    return Resize(params)


class NormalizeParams(Params):
    """Per-channel mean and std; measured on the training split when not given."""

    mean: list[float] | None = Field(None, description="one value per channel; fitted if unset")
    std: list[Annotated[float, Field(gt=0)]] | None = Field(None, description="one value per channel; fitted if unset")


class Normalize:
    """(x - mean) / std per channel."""

    def __init__(self, params: NormalizeParams) -> None:
        self.params = params

    def fit(self, images: torch.Tensor) -> State:
        channels = images.shape[1]
        mean = self.params.mean or images.mean(dim=(0, 2, 3)).tolist()
        std = self.params.std or images.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
        for label, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise ValueError(f"normalize {label} has {len(values)} values for {channels} channels")
        return {"mean": list(mean), "std": list(std)}

    def apply(self, images: torch.Tensor, state: State) -> torch.Tensor:
        shape = (1, -1, 1, 1)
        mean = torch.tensor(state["mean"], dtype=images.dtype, device=images.device).view(shape)
        std = torch.tensor(state["std"], dtype=images.dtype, device=images.device).view(shape)
        return (images - mean) / std


@PREPROCESSING.register("normalize", NormalizeParams, tags=("image",))
def normalize(params: NormalizeParams) -> ImageStep:
    """Normalize each channel to the given (or the training split's) mean and std."""
    return Normalize(params)
