"""The training loop: one function, the same in-process and inside every Ray Train worker.

It knows nothing of Ray or MLflow: ranks come in as a `Distributed`, results go out
through a `Reporter`, and tricks act through `Hooks`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

import torch
from torch import nn

from trainworks.data.types import DataBundle, Split
from trainworks.engine.batching import derive_seed, epoch_permutation, rank_batches, steps_per_epoch
from trainworks.engine.checkpoint import Checkpoint, save_checkpoint
from trainworks.engine.distributed import Distributed
from trainworks.engine.divergence import check_finite
from trainworks.engine.hooks import Hooks
from trainworks.engine.objectives import Objective
from trainworks.losses import Loss
from trainworks.optim import Schedule, needs_closure

SaveFn = Callable[[Path], None]
# An extra validation measure (robust accuracy): (model, parts, batch size, ranks) -> metrics over the whole split.
Probe = Callable[[nn.Module, "Parts", int, Distributed], dict[str, float]]


@dataclass(frozen=True)
class LoopSettings:
    """The spec's training section, as the loop needs it."""

    epochs: int
    batch_size: int
    grad_accumulation: int = 1
    precision: str = "fp32"
    seed: int = 0


@dataclass
class Parts:
    """Everything the loop trains with, built from a spec (see engine.assemble)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    loss: Loss
    hooks: Hooks
    data: DataBundle
    objective: Objective
    probes: list[Probe] = field(default_factory=list)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's metrics, as every rank agrees on them (reduced across ranks)."""

    epoch: int
    metrics: dict[str, float]


@dataclass
class FitResult:
    """The trained model (unwrapped from DDP) and every epoch's record."""

    model: nn.Module
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False


class Reporter(Protocol):
    """Where epochs go: the loop calls it on every rank; it decides who saves and who tells the driver."""

    def epoch_end(self, record: EpochRecord, save: SaveFn) -> None: ...

    def fit_end(self, save: SaveFn) -> None: ...


@dataclass
class Evaluation:
    """Validation metrics over the whole split, and the confusion matrix for classifiers."""

    metrics: dict[str, float]
    confusion: torch.Tensor | None = None


def autocast(precision: str, device: torch.device) -> ContextManager[Any]:
    """bf16 or fp16 autocast on the device, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def fit(parts: Parts, settings: LoopSettings, dist: Distributed, reporter: Reporter,
        resume: Checkpoint | None = None) -> FitResult:
    """Train for the remaining epochs, validating, reporting and checkpointing after each."""
    scaler = torch.amp.GradScaler(dist.device.type, enabled=settings.precision == "fp16")
    history = _restore(parts, scaler, resume)
    parts.hooks.on_fit_start(parts.model, parts.optimizer)
    model = dist.wrap(parts.model)  # after on_fit_start: DDP's gradient buckets follow the layout tricks set
    first_epoch = history[-1].epoch + 1 if history else 1
    stopped = bool(resume and resume.meta.get("stopped"))
    for epoch in range(first_epoch, settings.epochs + 1):
        if stopped:
            break
        torch.manual_seed(derive_seed(settings.seed, epoch, dist.rank))
        parts.hooks.on_epoch_start(epoch)
        started = time.perf_counter()
        train_loss, samples = _train_epoch(model, parts, settings, dist, scaler, epoch)
        train_seconds = time.perf_counter() - started
        evaluation = evaluate(parts.model, parts.data.val, parts, settings.batch_size, settings.precision, dist)
        metrics = {"train_loss": train_loss, **evaluation.metrics, **run_probes(parts, settings.batch_size, dist),
                   "lr": parts.optimizer.param_groups[0]["lr"],
                   "epoch_seconds": time.perf_counter() - started, "samples_per_second": samples / train_seconds}
        parts.schedule.epoch_end(metrics)
        stopped = parts.hooks.on_validation_end(epoch, metrics)
        history.append(EpochRecord(epoch, metrics))
        reporter.epoch_end(history[-1], _saver(parts, scaler, history, stopped))
    if parts.hooks.on_fit_end(parts.model):
        reporter.fit_end(_saver(parts, scaler, history, stopped, final=True))
    return FitResult(parts.model, history, stopped)


def _train_epoch(model: nn.Module, parts: Parts, settings: LoopSettings, dist: Distributed,
                 scaler: torch.amp.GradScaler, epoch: int) -> tuple[float, int]:
    """One pass over this rank's shard; returns the mean training loss and the examples seen, over all ranks."""
    model.train()
    train, device = parts.data.train, dist.device
    order = epoch_permutation(len(train), settings.seed, epoch)
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    first_step = (epoch - 1) * steps_per_epoch(len(train), settings.batch_size)
    batches = rank_batches(order, settings.batch_size, dist.rank, dist.world_size)
    for step, rows in enumerate(batches, start=first_step + 1):
        x, y = batch_rows(train, rows, parts, device)
        x, y = parts.hooks.on_train_batch(x, y)
        batch_totals = _optimizer_step(model, parts, settings, dist, scaler, x, parts.objective.targets(x, y))
        check_finite(batch_totals, dist, epoch, step)
        totals += batch_totals
        parts.optimizer.zero_grad(set_to_none=True)
        parts.schedule.step_end()
        parts.hooks.on_step_end(parts.model, step)
    loss_sum, count = dist.all_reduce_sum(totals).tolist()
    return loss_sum / max(count, 1), int(count)


def _optimizer_step(model: nn.Module, parts: Parts, settings: LoopSettings, dist: Distributed,
                    scaler: torch.amp.GradScaler, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The batch's gradients, then one optimiser step; returns the batch's loss sum and example count."""
    if needs_closure(parts.optimizer):
        return _closure_step(model, parts, settings, dist, scaler, x, y)
    totals, _ = _accumulate_step(model, parts, settings, dist, scaler, x, y)
    scaler.unscale_(parts.optimizer)
    parts.hooks.on_before_step(parts.model, parts.optimizer)
    scaler.step(parts.optimizer)
    scaler.update()
    return totals


def _closure_step(model: nn.Module, parts: Parts, settings: LoopSettings, dist: Distributed,
                  scaler: torch.amp.GradScaler, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L-BFGS: step(closure) re-evaluates the batch as often as it needs (see optim/lbfgs.py); the first
    evaluation's loss is the batch's, as on the other path."""
    evaluations: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        parts.optimizer.zero_grad(set_to_none=True)
        totals, objective = _accumulate_step(model, parts, settings, dist, scaler, x, y)
        parts.hooks.on_before_step(parts.model, parts.optimizer)
        evaluations.append(totals)
        return objective

    parts.optimizer.step(closure)
    return evaluations[0]


def _accumulate_step(model: nn.Module, parts: Parts, settings: LoopSettings, dist: Distributed,
                     scaler: torch.amp.GradScaler, x: torch.Tensor, y: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward over micro-batches; gradients sum to the whole batch's mean-loss gradient.

    Returns the data loss's sum and count (for the epoch's mean) and the objective that was
    differentiated (mean loss with the hooks' penalties).
    """
    micro = [(mx, my) for mx, my in zip(x.tensor_split(settings.grad_accumulation),
                                        y.tensor_split(settings.grad_accumulation)) if len(mx)]
    totals = torch.zeros(2, dtype=torch.float64, device=x.device)
    objective = torch.zeros((), device=x.device)
    for index, (mx, my) in enumerate(micro):
        sync = contextlib.nullcontext() if index == len(micro) - 1 else dist.no_sync(model)
        with sync:
            with autocast(settings.precision, x.device):
                data_loss = parts.loss(model(mx), my)
                loss = parts.hooks.on_loss(data_loss, parts.model)
            share = loss * (len(mx) / len(x))
            scaler.scale(share).backward()
        objective += share.detach().float()
        totals[0] += data_loss.detach().double() * len(mx)
        totals[1] += len(mx)
    return totals, objective


def batch_rows(split: Split, rows: torch.Tensor, parts: Parts,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a split on the device, with the per-batch preprocessing applied when the data needs it."""
    x = split.x[rows].to(device, non_blocking=True)
    y = split.y[rows].to(device, non_blocking=True)
    transform = parts.data.transform
    return (transform(x) if transform else x), y


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, parts: Parts, batch_size: int, precision: str,
             dist: Distributed) -> Evaluation:
    """Loss and the objective's scores over the whole split: each rank takes every world_size-th row.

    Every rank has at least one row (jobs refuse validation splits smaller than the worker count).
    Hooks may substitute the weights (eval_model) and add test-time views, whose outputs are averaged.
    """
    device, objective = dist.device, parts.objective
    model = parts.hooks.eval_model(model).eval()
    rows = torch.arange(dist.rank, len(split), dist.world_size)
    loss_sum, scores = torch.zeros(1, dtype=torch.float64, device=device), None
    for chunk in rows.split(batch_size):
        x, y = batch_rows(split, chunk, parts, device)
        targets = objective.targets(x, y)
        with autocast(precision, device):
            outputs = _average([model(view) for view in parts.hooks.eval_views(x)])
        loss_sum += parts.loss(outputs, targets).double() * len(chunk)
        batch_scores = objective.sums(outputs, targets)
        scores = batch_scores if scores is None else scores + batch_scores
    totals = dist.all_reduce_sum(torch.cat([loss_sum, torch.tensor([len(rows)], dtype=torch.float64,
                                                                    device=device), scores]))
    count = max(totals[1].item(), 1.0)
    metrics = {"val_loss": totals[0].item() / count, **objective.metrics(totals[2:], count)}
    return Evaluation(metrics, objective.confusion(totals[2:]))


def run_probes(parts: Parts, batch_size: int, dist: Distributed) -> dict[str, float]:
    """Every probe's metrics on the validation split (with gradients where a probe needs them)."""
    return {name: value for probe in parts.probes for name, value in probe(parts.model, parts, batch_size,
                                                                           dist).items()}


def _average(outputs: list[Any]) -> Any:
    """Mean of several views' outputs (tuples averaged element-wise)."""
    if len(outputs) == 1:
        return outputs[0]
    if isinstance(outputs[0], (tuple, list)):
        return type(outputs[0])(torch.stack(parts).mean(dim=0) for parts in zip(*outputs))
    return torch.stack(outputs).mean(dim=0)


def training_state(parts: Parts, scaler: torch.amp.GradScaler) -> dict[str, Any]:
    """Everything needed to continue exactly: model, optimiser, schedule, loss scaler, hooks."""
    return {"model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict(),
            "schedule": parts.schedule.state_dict(), "scaler": scaler.state_dict(),
            "hooks": parts.hooks.state_dict()}


def make_saver(state: Callable[[], dict[str, Any]], history: list[EpochRecord], stopped: bool,
               final: bool = False) -> SaveFn:
    """Writes this moment's checkpoint when (and only where) the reporter asks for it.

    There is no RNG state to save: each epoch reseeds from (seed, epoch, rank), so the
    epoch number restores shuffling, dropout and augmentation exactly.
    """

    def save(directory: Path) -> None:
        meta = {"epoch": history[-1].epoch if history else 0, "stopped": stopped, "final": final,
                "history": [asdict(record) for record in history]}
        save_checkpoint(directory, state(), meta)

    return save


def restored_history(resume: Checkpoint | None) -> list[EpochRecord]:
    """The epochs a checkpoint had already run (none for a fresh start)."""
    return [EpochRecord(**record) for record in resume.meta["history"]] if resume else []


def _saver(parts: Parts, scaler: torch.amp.GradScaler, history: list[EpochRecord], stopped: bool,
           final: bool = False) -> SaveFn:
    return make_saver(lambda: training_state(parts, scaler), history, stopped, final)


def _restore(parts: Parts, scaler: torch.amp.GradScaler, resume: Checkpoint | None) -> list[EpochRecord]:
    """Load a checkpoint's state into the parts; returns the epochs it had already run."""
    if resume is not None:
        state = resume.state
        parts.model.load_state_dict(state["model"])
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        parts.hooks.load_state_dict(state["hooks"])
    return restored_history(resume)
