"""What travels from wherever the loop runs back to the driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class EpochMessage:
    """An epoch's metrics, sent only once its checkpoint is safely stored."""

    epoch: int
    metrics: dict[str, float]
    checkpoint: str | None


OnEpoch = Callable[[EpochMessage], None]
