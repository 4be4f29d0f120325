"""Loop families: how a job trains and what it leaves behind, by the model's family.

Supervised models (classifiers, regressors, forecasters, autoencoders) share `engine.loop`;
adversarial and reinforcement-learning models have loops of their own shape. Each family
builds its parts from the spec, trains through the same Reporter/checkpoint protocol, and
produces an Outcome: what tracking logs when the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from trainworks.data.types import DataBundle
from trainworks.engine.assemble import build_parts
from trainworks.engine.checkpoint import Checkpoint
from trainworks.engine.distributed import Distributed, SingleProcess
from trainworks.engine.hooks import Hook
from trainworks.engine.loop import Reporter, evaluate, run_probes
from trainworks.engine.objectives import Reconstruct, primary
from trainworks.models import MODELS
from trainworks.spec.schema import JobSpec


@dataclass
class Outcome:
    """What a finished job leaves for tracking: final metrics, the model to log, an example input, pictures."""

    metrics: dict[str, float]
    model: nn.Module
    example_input: torch.Tensor
    confusion: torch.Tensor | None = None
    images: dict[str, torch.Tensor] = field(default_factory=dict)


Trainer = Callable[[JobSpec, DataBundle, Distributed, Reporter, "Checkpoint | None", Sequence[Hook]], None]
Finisher = Callable[[JobSpec, DataBundle, Checkpoint], Outcome]


@dataclass(frozen=True)
class Family:
    """A loop shape: how to train, and how to read the final checkpoint into an Outcome."""

    train: Trainer
    outcome: Finisher


def train_supervised(spec: JobSpec, data: DataBundle, dist: Distributed, reporter: Reporter,
                     resume: Checkpoint | None, extra_hooks: Sequence[Hook] = ()) -> None:
    """The shared loop of engine.loop, run as the spec's strategy says (one fit, stages, with a teacher, ...)."""
    from trainworks.strategies import strategy_of

    strategy_of(spec).train(spec, data, dist, reporter, resume, extra_hooks)


def supervised_outcome(spec: JobSpec, data: DataBundle, final: Checkpoint) -> Outcome:
    """The final weights evaluated on the whole validation split, in this process."""
    parts = build_parts(spec, data, torch.device("cpu"))
    parts.model.load_state_dict(final.state["model"])
    evaluation = evaluate(parts.model, data.val, parts, spec.training.batch_size, "fp32", SingleProcess())
    metrics = {**evaluation.metrics, **run_probes(parts, spec.training.batch_size, SingleProcess())}
    example = data.val.x[:5] if data.transform is None else data.transform(data.val.x[:5])
    images = _reconstruction_images(parts.model.eval(), data) if isinstance(parts.objective, Reconstruct) else {}
    return Outcome(metrics, parts.model, example, evaluation.confusion, images)


def _reconstruction_images(model: nn.Module, data: DataBundle) -> dict[str, torch.Tensor]:
    """Autoencoders on images: validation inputs beside their reconstructions, and samples when it generates."""
    if data.info.modality != "image":
        return {}
    inputs = data.val.x[:18] if data.transform is None else data.transform(data.val.x[:18])
    with torch.no_grad():
        outputs = primary(model(inputs))
    images = {"reconstructions": torch.stack([inputs, outputs], dim=1).flatten(0, 1)}
    if hasattr(model, "sample"):
        images["generated_samples"] = model.sample(36, torch.Generator().manual_seed(0))
    return images


FAMILIES: dict[str, Family] = {"supervised": Family(train_supervised, supervised_outcome)}


def family_of(spec: JobSpec) -> Family:
    """The family named by the model's tags (gan, policy), else supervised."""
    from trainworks.engine import gan  # noqa: F401  (families register themselves; imported late: they build
    from trainworks.rl import loop  # noqa: F401  on this module)

    tags = MODELS.get(spec.model.name).tags
    return next((family for name, family in FAMILIES.items() if name in tags), FAMILIES["supervised"])
