"""The shapes data takes on its way from a file to the training loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import pyarrow as pa
import torch

Task = Literal["classification", "regression", "reconstruction", "generation", "control"]
Modality = Literal["image", "table", "sequence", "environment"]
BatchTransform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Split:
    """One split held in memory: features (N,F), images (N,C,H,W) or windows (N,T,F), and targets, row-aligned."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"features have {len(self.x)} rows but targets {len(self.y)}")

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class DataInfo:
    """What a model or loss needs to know of the data, without the data itself."""

    task: Task
    modality: Modality
    input_shape: tuple[int, ...]
    num_outputs: int
    classes: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataBundle:
    """Train and validation splits, the fitted preprocessing state, and any per-batch transform.

    `transform` is set only when preprocessed images would not fit the memory budget: the
    loop then applies it to each batch on the device instead of once up front.
    """

    train: Split
    val: Split
    info: DataInfo
    preprocessing: list[dict[str, Any]] = field(default_factory=list)
    transform: BatchTransform | None = None


@dataclass(frozen=True)
class RawImages:
    """Images in [0, 1] as float N,C,H,W with integer labels, before preprocessing."""

    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]


@dataclass(frozen=True)
class RawTable:
    """A table before splitting: features and the target column, and what the target means."""

    table: pa.Table
    target: str
    task: Task


@dataclass(frozen=True)
class RawSeries:
    """A table sorted by its time column, before the chronological split and windowing."""

    table: pa.Table
    time: str
    target: str
    window: int
    horizon: int
    predict: str = "value"  # or "change": the target minus its value at the window's last row


class DataError(ValueError):
    """Data that cannot serve the job as specified; `path` is the spec field to fix."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")
