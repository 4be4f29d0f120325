"""The trick registry: each builder takes its parameters and what the job is, and returns a Hook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from trainworks.data.types import DataInfo
from trainworks.engine.hooks import Hook
from trainworks.registry import Params, Registry


@dataclass(frozen=True)
class TrickContext:
    """What a trick may need to know of the job when it is built."""

    data: DataInfo
    epochs: int
    steps_per_epoch: int
    seed: int = 0


TrickBuilder = Callable[[Params, TrickContext], Hook]
TRICKS: Registry[TrickBuilder] = Registry("trick")
