"""L-BFGS: a second-order (quasi-Newton) optimiser that evaluates the loss itself, through a closure.

How it runs in the loop: each training batch is one `optimizer.step(closure)`. The closure
zeroes the gradients, runs forward and backward over the batch (all of its
`grad_accumulation` micro-batches, so each evaluation sees the whole batch's gradient in a
micro-batch's memory), lets hooks finish the gradients (`on_before_step`: clipping acts on
every evaluation) and returns the loss that was differentiated (penalties included). L-BFGS
calls it up to `max_iter` times per batch (more with the line search). The batch and its
augmentation are drawn once; dropout draws new masks on each evaluation, which makes the
objective noisy: L-BFGS is best with models without dropout.

Refused at spec load (spec/consistency.py): more than one worker (each rank's line search and
stopping tests read its own shard's loss, so ranks would take different numbers of
evaluations and DDP's gradient all-reduce would wait forever) and fp16 (loss scaling cannot
wrap a closure). L-BFGS keeps one parameter group, so it has no weight decay.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from trainworks.optim.optimizers import OPTIMIZERS, LearningRate
from trainworks.registry import Params

PositiveInt = Annotated[int, Field(gt=0)]


class LBFGSParams(Params):
    """L-BFGS's step length, work per batch, memory and stopping tolerances."""

    lr: LearningRate = 1.0
    max_iter: PositiveInt = Field(20, description="iterations per batch (each evaluates the closure at least once)")
    history_size: PositiveInt = Field(100, description="gradient differences kept to approximate the inverse Hessian")
    line_search: Literal["strong_wolfe", "none"] = Field(
        "strong_wolfe", description="strong Wolfe line search (robust), or fixed steps of lr")
    tolerance_grad: float = Field(1e-7, ge=0.0, description="stop a batch when the gradient's max-abs falls below")
    tolerance_change: float = Field(1e-9, ge=0.0, description="stop a batch when loss or step changes less than")


@OPTIMIZERS.register("lbfgs", LBFGSParams, tags=("closure",))
def build_lbfgs(params: LBFGSParams, model: nn.Module) -> torch.optim.Optimizer:
    """L-BFGS: quasi-Newton steps from a short gradient history; re-evaluates each batch through a closure."""
    return torch.optim.LBFGS(model.parameters(), lr=params.lr, max_iter=params.max_iter,
                             history_size=params.history_size, tolerance_grad=params.tolerance_grad,
                             tolerance_change=params.tolerance_change,
                             line_search_fn=None if params.line_search == "none" else params.line_search)


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether step() must be given a closure that re-evaluates the loss (L-BFGS)."""
    return isinstance(optimizer, torch.optim.LBFGS)
