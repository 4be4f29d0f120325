"""Data sets by name: each loads real data into memory, ready for splitting and preprocessing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field, ValidationInfo, field_validator

from trainworks.data.table import TABLE_SUFFIXES, read_column_names, read_table
from trainworks.data.types import RawImages, RawSeries, RawTable
from trainworks.registry import Params, Registry
from trainworks.paths import ExistingFile, SpecPath


@dataclass(frozen=True)
class LoadedData:
    """What a data set gives: images, a table or a series, and, where the data set has one, its own test split."""

    train: RawImages | RawTable | RawSeries
    val: RawImages | None = None


DATASETS: Registry = Registry("dataset")


class DigitsParams(Params):
    """scikit-learn's digits; optionally only some of the ten classes."""

    labels: list[Annotated[int, Field(ge=0, le=9)]] | None = Field(
        None, description="keep only these digits (relabelled 0..k-1 in this order); all ten if unset"
    )


@DATASETS.register("digits", DigitsParams, tags=("image",))
def load_digits(params: DigitsParams) -> LoadedData:
    """UCI optical digits from scikit-learn: 1797 real 8x8 grey images, 10 classes, no download."""
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(raw.target, dtype=torch.long)
    labels = params.labels or list(range(10))
    keep = torch.isin(y, torch.tensor(labels))
    remap = {digit: index for index, digit in enumerate(labels)}
    y_kept = torch.tensor([remap[int(label)] for label in y[keep]], dtype=torch.long)
    return LoadedData(RawImages(x[keep], y_kept, tuple(str(d) for d in labels)))


class Cifar10Params(Params):
    """Where CIFAR-10 lives and how much of it to use."""

    download: bool = Field(False, description="fetch the archive if missing (needs internet)")
    root: SpecPath = Field(description="folder holding cifar-10-batches-py/ (relative to the job file)")
    verify_checksums: bool = Field(
        True, description="check torchvision's MD5 sums; turn off for subsets written in CIFAR-10's format"
    )
    limit: Annotated[int, Field(gt=0)] | None = Field(None, description="use only the first N images of each split")

    @field_validator("root")
    @classmethod
    def _files_present(cls, root: Path, info: ValidationInfo) -> Path:
        folder = root / "cifar-10-batches-py"
        if not info.data.get("download", False) and not folder.is_dir():
            raise ValueError(f"no CIFAR-10 files at {folder}; set download: true or point root at them")
        return root


@DATASETS.register("cifar10", Cifar10Params, tags=("image",))
def load_cifar10(params: Cifar10Params) -> LoadedData:
    """CIFAR-10 through torchvision's own loader: 50,000 training and 10,000 test images, 32x32 RGB."""
    from torchvision.datasets import CIFAR10

    loader = CIFAR10 if params.verify_checksums else _UncheckedCIFAR10()

    def split(train: bool) -> RawImages:
        data = loader(root=str(params.root), train=train, download=params.download)
        images = torch.from_numpy(data.data[: params.limit]).permute(0, 3, 1, 2).float() / 255.0
        labels = torch.tensor(data.targets[: params.limit], dtype=torch.long)
        return RawImages(images.contiguous(), labels, tuple(data.classes))

    return LoadedData(split(train=True), split(train=False))


def _UncheckedCIFAR10() -> type:
    """torchvision's CIFAR10 with the MD5 sums blanked, so files of CIFAR-10's format but other content load."""
    from torchvision.datasets import CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return UncheckedCIFAR10


class TableParams(Params):
    """A CSV or Parquet table: which column to predict and which to learn from."""

    path: ExistingFile = Field(description="CSV or Parquet file (relative to the job file)")
    target: str = Field(description="column to predict")
    features: list[str] | None = Field(None, description="columns to learn from; all but the target if unset")
    task: Literal["classification", "regression"] = "classification"

    @field_validator("path")
    @classmethod
    def _known_format(cls, path: Path) -> Path:
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise ValueError(f"'{path.name}' is not a table; expected one of {', '.join(TABLE_SUFFIXES)}")
        return path

    @field_validator("target")
    @classmethod
    def _target_exists(cls, target: str, info: ValidationInfo) -> str:
        require_file_columns(info, [target])
        return target

    @field_validator("features")
    @classmethod
    def _features_exist(cls, features: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if features is not None:
            require_file_columns(info, features)
            if info.data.get("target") in features:
                raise ValueError(f"the target '{info.data['target']}' cannot also be a feature")
        return features


def require_file_columns(info: ValidationInfo, wanted: list[str]) -> None:
    """Fail with the file's real column names when a named column is not in it."""
    path = info.data.get("path")
    if path is None:
        return
    columns = read_column_names(path)
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise ValueError(f"no column {', '.join(map(repr, missing))} in {path.name}; columns: {', '.join(columns)}")


@DATASETS.register("table", TableParams, tags=("table",))
def load_table(params: TableParams) -> LoadedData:
    """A CSV or Parquet table read with pyarrow (e.g. the Palmer penguins in jobs/data)."""
    table = read_table(params.path)
    features = params.features or [name for name in table.column_names if name != params.target]
    return LoadedData(RawTable(table.select([*features, params.target]), params.target, params.task))
