"""The model registry: every builder takes its parameters and the data's shape."""

from __future__ import annotations

from typing import Callable

from torch import nn

from trainworks.data.types import DataInfo
from trainworks.registry import Params, Registry

ModelBuilder = Callable[[Params, DataInfo], nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
