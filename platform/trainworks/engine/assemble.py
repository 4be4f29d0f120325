"""From a validated spec and prepared data to the parts the loop trains with."""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from trainworks.data import AUGMENTATIONS
from trainworks.data.types import DataBundle, DataInfo
from trainworks.engine.batching import steps_per_epoch
from trainworks.engine.hooks import Hook, Hooks
from trainworks.engine.loop import LoopSettings, Parts, Probe
from trainworks.engine.objectives import Classify, Objective, Reconstruct, Regress
from trainworks.losses import LOSSES
from trainworks.models import MODELS
from trainworks.optim import OPTIMIZERS, SCHEDULES, Plan
from trainworks.spec.consistency import job_task
from trainworks.spec.schema import JobSpec
from trainworks.strategies.robustness import robust_accuracy_probe
from trainworks.tricks import TRICKS, TrickContext
from trainworks.tricks.basic import Augment, ClipGradNorm


def loop_settings(spec: JobSpec) -> LoopSettings:
    """The training section as the loop reads it."""
    training = spec.training
    return LoopSettings(training.epochs, training.batch_size, training.grad_accumulation, training.precision,
                        training.seed)


def job_info(spec: JobSpec, data: DataBundle) -> DataInfo:
    """The data's description with the job's task (an autoencoder on digits reconstructs, not classifies)."""
    return replace(data.info, task=job_task(spec))


def build_model(spec: JobSpec, data: DataBundle) -> torch.nn.Module:
    """The spec's model, initialised from the training seed (so every rank starts identical)."""
    torch.manual_seed(spec.training.seed)
    return MODELS.get(spec.model.name).build(spec.model, job_info(spec, data))


def build_hooks(spec: JobSpec, data: DataBundle) -> list[Hook]:
    """Augmentation first, then the spec's tricks in their order, then gradient clipping."""
    hooks: list[Hook] = []
    if spec.data.augmentation:
        hooks.append(Augment([AUGMENTATIONS.get(a.name).build(a) for a in spec.data.augmentation]))
    context = TrickContext(data.info, spec.training.epochs,
                           steps_per_epoch(len(data.train), spec.training.batch_size), spec.training.seed)
    hooks.extend(TRICKS.get(trick.name).build(trick, context) for trick in spec.tricks)
    if spec.training.grad_clip_norm:
        hooks.append(ClipGradNorm(spec.training.grad_clip_norm))
    return hooks


def build_objective(spec: JobSpec, data: DataBundle) -> Objective:
    """Classify, regress or reconstruct, as the job's task says."""
    task = job_task(spec)
    if task == "reconstruction":
        return Reconstruct(math.prod(data.info.input_shape))
    if task == "classification":
        return Classify(data.info.num_outputs)
    return Regress(data.info.num_outputs)


def build_parts(spec: JobSpec, data: DataBundle, device: torch.device) -> Parts:
    """Model on the device, then its optimiser (parameter groups from the model), schedule, loss, hooks, objective."""
    model = build_model(spec, data).to(device)
    optimizer = OPTIMIZERS.get(spec.optimizer.name).build(spec.optimizer, model)
    plan = Plan(spec.training.epochs, steps_per_epoch(len(data.train), spec.training.batch_size))
    schedule = SCHEDULES.get(spec.schedule.name).build(spec.schedule, optimizer, plan)
    loss = LOSSES.get(spec.loss.name).build(spec.loss, job_info(spec, data))
    return Parts(model, optimizer, schedule, loss, Hooks(build_hooks(spec, data)), data,
                 build_objective(spec, data), build_probes(spec))


def build_probes(spec: JobSpec) -> list[Probe]:
    """Extra validation measures the spec's evaluation section asks for."""
    robust = spec.evaluation.robust_accuracy
    return [robust_accuracy_probe(robust)] if robust is not None else []
