"""Tricks that change how fast a step runs, not what it computes: channels_last memory layout and torch.compile."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from trainworks.engine.hooks import Hook
from trainworks.registry import NoParams, Params
from trainworks.tricks.registry import TRICKS, TrickContext


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """N,C,H,W images stored channels-innermost (NHWC), which convolutions run faster on GPUs and recent CPUs."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class ChannelsLast(Hook):
    """Model weights and every training and validation batch in channels_last layout.

    List it after tricks that build new batches (mixup, cutmix), so their output is converted.
    """

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        model.to(memory_format=torch.channels_last)  # in place; 4-d (convolution) weights only

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return to_channels_last(x), y

    def eval_views(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [to_channels_last(x)]


@TRICKS.register("channels_last", tags=("image",))
def channels_last(params: NoParams, context: TrickContext) -> Hook:
    """channels_last (NHWC) memory layout for the model and image batches: faster convolutions, same results."""
    return ChannelsLast()


class CompileParams(Params):
    """What torch.compile is asked for."""

    backend: Literal["inductor", "aot_eager", "eager"] = Field(
        "inductor", description="inductor generates fused kernels (needs a C++ compiler on CPU); aot_eager and "
                                "eager only trace, for debugging")
    mode: Literal["default", "reduce-overhead", "max-autotune"] = Field(
        "default", description="reduce-overhead uses CUDA graphs; max-autotune searches kernels (slow to compile)")


class Compile(Hook):
    """Compiles the model in place (nn.Module.compile), so state_dict keys and checkpoints are unchanged."""

    def __init__(self, backend: str, mode: str) -> None:
        self.backend, self.mode = backend, mode

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        options = {"mode": self.mode} if self.backend == "inductor" else {}
        model.compile(backend=self.backend, **options)


@TRICKS.register("compile", CompileParams)
def compile_model(params: CompileParams, context: TrickContext) -> Hook:
    """torch.compile the model in place before training (pays a compile once, faster steps after)."""
    return Compile(params.backend, params.mode)
