"""Policies for reinforcement learning: observations in, action logits out."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field
from torch import nn

from trainworks.data.types import DataInfo
from trainworks.models.registry import MODELS
from trainworks.registry import Params


class PolicyParams(Params):
    """Width of the policy network."""

    hidden: list[Annotated[int, Field(gt=0)]] = Field([64], description="hidden layer widths")


@MODELS.register("policy_mlp", PolicyParams, tags=("policy",))
def build_policy_mlp(params: PolicyParams, info: DataInfo) -> nn.Module:
    """MLP policy for discrete actions: observation -> one logit per action (policy-gradient agents)."""
    layers: list[nn.Module] = []
    width = math.prod(info.input_shape)
    for hidden in params.hidden:
        layers += [nn.Linear(width, hidden), nn.Tanh()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, info.num_outputs))
