"""Gradient clipping by name, so trick ablations can switch it; the same hook as training.grad_clip_norm."""

from __future__ import annotations

from pydantic import Field

from trainworks.engine.hooks import Hook
from trainworks.registry import Params
from trainworks.tricks.basic import ClipGradNorm
from trainworks.tricks.registry import TRICKS, TrickContext


class GradClipParams(Params):
    """The largest global gradient norm allowed."""

    max_norm: float = Field(1.0, gt=0.0, description="gradients are rescaled so their global L2 norm is at most this")


@TRICKS.register("grad_clip", GradClipParams)
def grad_clip(params: GradClipParams, context: TrickContext) -> Hook:
    """Gradient clipping: rescale gradients to a global L2 norm of at most max_norm (= training.grad_clip_norm)."""
    return ClipGradNorm(params.max_norm)
