"""Sequence models: LSTM, GRU and a Transformer encoder, for sequence classification and forecasting.

They read (N, T, F) sequences; images (N, C, H, W) are read row by row (T = H, F = C * W) and
flat features (N, F) as F steps of one value, so digits can be classified as sequences too.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from trainworks.data.types import DataInfo
from trainworks.models.registry import MODELS
from trainworks.registry import Params


def as_sequence(x: torch.Tensor) -> torch.Tensor:
    """(N, T, F) view of a batch: images by rows, flat features one value per step."""
    if x.dim() == 4:
        return x.permute(0, 2, 1, 3).flatten(2)
    if x.dim() == 2:
        return x.unsqueeze(-1)
    return x


def sequence_shape(info: DataInfo) -> tuple[int, int]:
    """(steps, features per step) of the data as `as_sequence` presents it."""
    probe = as_sequence(torch.zeros(1, *info.input_shape))
    return probe.shape[1], probe.shape[2]


class RecurrentParams(Params):
    """Size of the recurrent stack."""

    hidden: Annotated[int, Field(gt=0)] = Field(64, description="hidden units per layer and direction")
    layers: Annotated[int, Field(gt=0, le=8)] = 1
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout between stacked layers")
    bidirectional: bool = False


class Recurrent(nn.Module):
    """An LSTM or GRU whose final hidden state (both directions) feeds a linear head."""

    def __init__(self, cell: type[nn.RNNBase], features: int, outputs: int, params: RecurrentParams) -> None:
        super().__init__()
        self.rnn = cell(features, params.hidden, num_layers=params.layers, batch_first=True,
                        dropout=params.dropout if params.layers > 1 else 0.0, bidirectional=params.bidirectional)
        self.directions = 2 if params.bidirectional else 1
        self.head = nn.Linear(params.hidden * self.directions, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(as_sequence(x))
        hidden = state[0] if isinstance(state, tuple) else state  # an LSTM returns (h, c)
        return self.head(hidden[-self.directions:].transpose(0, 1).flatten(1))


@MODELS.register("lstm", RecurrentParams)
def build_lstm(params: RecurrentParams, info: DataInfo) -> nn.Module:
    """LSTM over the sequence; its last hidden state predicts the class or the next values."""
    return Recurrent(nn.LSTM, sequence_shape(info)[1], info.num_outputs, params)


@MODELS.register("gru", RecurrentParams)
def build_gru(params: RecurrentParams, info: DataInfo) -> nn.Module:
    """GRU over the sequence; its last hidden state predicts the class or the next values."""
    return Recurrent(nn.GRU, sequence_shape(info)[1], info.num_outputs, params)


class TransformerParams(Params):
    """Size of the encoder and how its outputs are pooled."""

    d_model: Annotated[int, Field(gt=0)] = 64
    heads: Annotated[int, Field(gt=0)] = 4
    layers: Annotated[int, Field(gt=0, le=24)] = 2
    feedforward: Annotated[int, Field(gt=0)] = 128
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    pooling: Literal["mean", "last"] = Field("mean", description="average all steps, or take the last (forecasting)")


class TransformerEncoderModel(nn.Module):
    """Linear embedding of each step plus learned positions, a Transformer encoder, a pooled linear head."""

    def __init__(self, steps: int, features: int, outputs: int, params: TransformerParams) -> None:
        super().__init__()
        if params.d_model % params.heads:
            raise ValueError(f"d_model {params.d_model} is not divisible by heads {params.heads}")
        self.embed = nn.Linear(features, params.d_model)
        self.position = nn.Parameter(torch.zeros(1, steps, params.d_model))
        layer = nn.TransformerEncoderLayer(params.d_model, params.heads, params.feedforward, params.dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, params.layers, enable_nested_tensor=False)
        self.pooling = params.pooling
        self.head = nn.Linear(params.d_model, outputs)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = as_sequence(x)
        encoded = self.encoder(self.embed(sequence) + self.position[:, : sequence.shape[1]])
        pooled = encoded.mean(dim=1) if self.pooling == "mean" else encoded[:, -1]
        return self.head(pooled)


@MODELS.register("transformer", TransformerParams)
def build_transformer(params: TransformerParams, info: DataInfo) -> nn.Module:
    """Transformer encoder over the sequence, for classification or forecasting."""
    steps, features = sequence_shape(info)
    return TransformerEncoderModel(steps, features, info.num_outputs, params)
