"""Feed-forward networks of any depth and width."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field
from torch import nn

from trainworks.data.types import DataInfo
from trainworks.models.registry import ACTIVATIONS, MODELS
from trainworks.registry import Params


class MLPParams(Params):
    """Depth and width are the length and entries of `hidden`."""

    hidden: list[Annotated[int, Field(gt=0)]] = Field([128], description="width of each hidden layer")
    activation: Literal["relu", "gelu", "tanh", "sigmoid"] = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after each hidden layer")
    batch_norm: bool = Field(False, description="batch normalisation before each activation")


@MODELS.register("mlp", MLPParams)
def build_mlp(params: MLPParams, info: DataInfo) -> nn.Module:
    """Multi-layer perceptron on flattened inputs: configurable depth, width, activation, dropout, batch norm."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(info.input_shape)
    for hidden in params.hidden:
        layers.append(nn.Linear(width, hidden))
        if params.batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(ACTIVATIONS[params.activation]())
        if params.dropout:
            layers.append(nn.Dropout(params.dropout))
        width = hidden
    layers.append(nn.Linear(width, info.num_outputs))
    return nn.Sequential(*layers)
