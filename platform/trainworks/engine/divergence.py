"""A non-finite training loss ends the run at once: every later step would train on NaN weights."""

from __future__ import annotations

import math

import torch

from trainworks.engine.distributed import Distributed


class Diverged(RuntimeError):
    """The training loss became NaN or infinite at this epoch and global step (counted from 1)."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        self.epoch, self.step, self.loss = epoch, step, loss
        super().__init__(f"training diverged: the loss was {loss} at epoch {epoch}, step {step}; lower the "
                         "learning rate, clip gradients (training.grad_clip_norm) or look for NaN in the data")

    def __reduce__(self) -> tuple:
        return Diverged, (self.epoch, self.step, self.loss)  # crosses Ray's queues and processes intact

    def tags(self) -> dict[str, str]:
        """What MLflow records on the failed run."""
        return {"trainworks.failure": "diverged", "trainworks.diverged_epoch": str(self.epoch),
                "trainworks.diverged_step": str(self.step), "trainworks.diverged_loss": str(self.loss)}

    def as_result(self) -> dict[str, float]:
        """The same, as numbers in a Ray report."""
        return {DIVERGED_EPOCH: float(self.epoch), DIVERGED_STEP: float(self.step), DIVERGED_LOSS: self.loss}

    @classmethod
    def from_result(cls, result: dict[str, float]) -> Diverged | None:
        """The divergence a Ray report carries, or None for an ordinary report."""
        if DIVERGED_STEP not in result:
            return None
        return cls(int(result[DIVERGED_EPOCH]), int(result[DIVERGED_STEP]), float(result[DIVERGED_LOSS]))


DIVERGED_EPOCH, DIVERGED_STEP, DIVERGED_LOSS = "diverged_epoch", "diverged_step", "diverged_loss"


def check_finite(batch_totals: torch.Tensor, dist: Distributed, epoch: int, step: int) -> None:
    """Raise Diverged when any rank's batch loss is not finite; every rank agrees (one tiny all-reduce under DDP),
    so all of them stop at the same step instead of some waiting forever on the others."""
    totals = batch_totals.detach().clone()
    if dist.world_size > 1:
        totals = dist.all_reduce_sum(totals)
    loss_sum, count = totals.tolist()
    if not math.isfinite(loss_sum):
        raise Diverged(epoch, step, loss_sum / max(count, 1.0))
