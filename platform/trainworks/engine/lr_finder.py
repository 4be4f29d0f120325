"""Learning-rate range test (Smith 2017, "Cyclical Learning Rates", section 3.3): train on successive batches
while the rate grows exponentially, watch the smoothed loss, stop when it diverges, suggest a rate.

The pure parts (rates, smoothing, divergence, suggestion) are functions of lists; the runner
trains the job's own parts, with the loop's own step, and puts the weights back afterwards.
"""

from __future__ import annotations

import copy
import io
import math
from dataclasses import dataclass
from typing import Iterator

import torch

from trainworks.data.types import DataBundle
from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.batching import derive_seed, epoch_permutation, rank_batches
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.loop import LoopSettings, Parts, _optimizer_step, batch_rows  # the loop's own step, not a copy
from trainworks.optim import needs_closure
from trainworks.spec.schema import JobSpec


def exponential_rates(start: float, end: float, steps: int) -> list[float]:
    """`steps` rates from start to end, each a constant factor above the last (even on a log axis)."""
    if not 0 < start < end or steps < 2:
        raise ValueError(f"need 0 < start < end and at least 2 steps; got start {start}, end {end}, steps {steps}")
    return [start * (end / start) ** (index / (steps - 1)) for index in range(steps)]


def smooth_losses(losses: list[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (avg_i / (1 - beta^(i+1))): early values are not pulled to 0."""
    smoothed, average = [], 0.0
    for index, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** (index + 1)))
    return smoothed


def diverged(smoothed: float, best: float, factor: float = 4.0) -> bool:
    """The range test stops once the smoothed loss is not finite or exceeds `factor` times the best so far."""
    return not math.isfinite(smoothed) or smoothed > factor * best


@dataclass(frozen=True)
class Suggestion:
    """The suggested rate, and the two landmarks of the curve it comes from."""

    rate: float           # one tenth of minimum_rate
    minimum_rate: float   # where the smoothed loss is lowest
    steepest_rate: float  # where the smoothed loss falls fastest per decade of rate, before the minimum
    loss_fell: bool       # False: the loss never went below its start; the suggestion means little


def suggest_rate(rates: list[float], smoothed: list[float]) -> Suggestion:
    """One tenth of the rate at the smoothed loss's minimum: at the minimum the loss is about to blow up, so
    the usual rule (Smith; fastai's `lr_min`) backs off one decade. The steepest descent is reported beside it."""
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    slopes = [(smoothed[i + 1] - smoothed[i]) / math.log10(rates[i + 1] / rates[i]) for i in range(lowest)]
    steepest = rates[min(range(len(slopes)), key=slopes.__getitem__)] if slopes else rates[lowest]
    return Suggestion(rates[lowest] / 10, rates[lowest], steepest, smoothed[lowest] < smoothed[0])


@dataclass(frozen=True)
class RangeTest:
    """What the range test saw: every rate tried, its raw and smoothed loss, and the suggestion."""

    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    stopped_early: bool
    suggestion: Suggestion


def _training_batches(parts: Parts, settings: LoopSettings, device: torch.device
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loop's batches, epoch after epoch, as long as they are wanted (seeded as the loop seeds them)."""
    epoch = 0
    while True:
        epoch += 1
        torch.manual_seed(derive_seed(settings.seed, epoch, 0))
        parts.hooks.on_epoch_start(epoch)
        order = epoch_permutation(len(parts.data.train), settings.seed, epoch)
        for rows in rank_batches(order, settings.batch_size, 0, 1):
            yield parts.hooks.on_train_batch(*batch_rows(parts.data.train, rows, parts, device))


def range_test(parts: Parts, settings: LoopSettings, rates: list[float], device: torch.device,
               beta: float = 0.9, divergence: float = 4.0) -> RangeTest:
    """One training step per rate (the loop's step: precision, accumulation, hooks); the model's and the
    optimiser's state are put back afterwards."""
    if needs_closure(parts.optimizer):
        raise ValueError("optimizer.name: L-BFGS sets its own step length by line search; the range test is for "
                         "first-order optimisers")
    saved_model, saved_optimizer = copy.deepcopy(parts.model.state_dict()), copy.deepcopy(parts.optimizer.state_dict())
    scaler = torch.amp.GradScaler(device.type, enabled=settings.precision == "fp16")
    dist, losses, smoothed = SingleProcess(device), [], []
    parts.hooks.on_fit_start(parts.model, parts.optimizer)
    parts.model.train()
    try:
        for rate, (x, y) in zip(rates, _training_batches(parts, settings, device)):
            for group in parts.optimizer.param_groups:
                group["lr"] = rate
            loss_sum, count = _optimizer_step(parts.model, parts, settings, dist, scaler, x, y).tolist()
            parts.optimizer.zero_grad(set_to_none=True)
            losses.append(loss_sum / count)
            smoothed = smooth_losses(losses, beta)
            if diverged(smoothed[-1], min(smoothed), divergence):
                break
    finally:
        parts.model.load_state_dict(saved_model)
        parts.optimizer.load_state_dict(saved_optimizer)
    tried = rates[:len(losses)]
    return RangeTest(tried, losses, smoothed, len(losses) < len(rates), suggest_rate(tried, smoothed))


def find_learning_rate(spec: JobSpec, data: DataBundle, device: torch.device, start: float = 1e-7, end: float = 10.0,
                       steps: int = 100) -> RangeTest:
    """The range test on a job: its model, optimiser, loss, hooks and batches, in this process."""
    rates = exponential_rates(start, end, steps)
    return range_test(build_parts(spec, data, device), loop_settings(spec), rates, device)


def range_test_png(result: RangeTest, title: str) -> bytes:
    """Loss against learning rate on a log axis: raw losses faint, smoothed bold, the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(result.rates, result.losses, color="0.75", linewidth=1, label="loss")
    axis.plot(result.rates, result.smoothed, color="C0", linewidth=2, label="smoothed loss")
    suggestion = result.suggestion
    axis.axvline(suggestion.rate, color="C2", linestyle="--", label=f"suggested {suggestion.rate:.1e}")
    axis.axvline(suggestion.minimum_rate, color="C3", linestyle=":", label=f"minimum {suggestion.minimum_rate:.1e}")
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    finite = [loss for loss in result.losses if math.isfinite(loss)]
    low, high = min(finite + result.smoothed[:1]), result.smoothed[0]
    span = abs(high - low) + 1e-8
    axis.set_ylim(low - 0.1 * span, high + span)  # the diverging tail would flatten the rest
    axis.set_title(title)
    axis.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()
