"""Knowledge distillation: the spec's model (the student) learns from a teacher's softened outputs (Hinton 2015).

The teacher is built and loaded inside each worker (never shipped from the driver), kept in
eval mode with gradients off, and runs on exactly the inputs the student trains on. Its
logits travel beside the labels as the objective's targets, so gradient accumulation,
DDP and validation handle them like any target; validation adds how often student and
teacher agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from trainworks.data.types import DataBundle
from trainworks.engine.distributed import Distributed
from trainworks.engine.loop import Parts
from trainworks.engine.objectives import Objective, primary
from trainworks.losses import Loss
from trainworks.registry import Params
from trainworks.strategies.registry import STRATEGIES, PartsStrategy, Strategy
from trainworks.strategies.weights import WeightsSource, load_state_dict

if TYPE_CHECKING:
    from trainworks.spec.errors import Issue
    from trainworks.spec.schema import JobSpec


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, hard_loss: torch.Tensor, alpha: float,
                      temperature: float) -> torch.Tensor:
    """alpha * KL(softmax(t/T) || softmax(s/T)) * T^2 + (1 - alpha) * hard_loss (T^2 keeps the gradients' scale)."""
    soft = F.kl_div(F.log_softmax(student.float() / temperature, dim=-1),
                    F.log_softmax(teacher.float() / temperature, dim=-1), log_target=True, reduction="batchmean")
    return alpha * soft * temperature**2 + (1.0 - alpha) * hard_loss


def pack(teacher_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Teacher logits then the labels (a column of class ids, or soft targets) as one target tensor."""
    labels = y.float().unsqueeze(1) if y.dim() == 1 else y.float()
    return torch.cat([teacher_logits.float(), labels], dim=1)


def unpack(targets: torch.Tensor, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(teacher logits, labels) from `pack`; labels come back as class ids when they went in as ids."""
    teacher, labels = targets[:, :classes], targets[:, classes:]
    return teacher, labels.squeeze(1).long() if labels.shape[1] == 1 else labels


@dataclass
class DistillationLoss:
    """The spec's loss on the labels, blended with the soft teacher term."""

    hard: Loss
    classes: int
    alpha: float
    temperature: float

    def __call__(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        teacher, labels = unpack(targets, self.classes)
        student = primary(outputs)
        return distillation_loss(student, teacher, self.hard(outputs, labels), self.alpha, self.temperature)


@dataclass
class Distill:
    """Wraps the classification objective: targets carry the teacher's logits; scores add teacher agreement."""

    inner: Objective
    teacher: nn.Module
    classes: int

    def targets(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.teacher.eval()  # whatever else calls train() on modules, the teacher never leaves eval mode
        with torch.no_grad():
            return pack(primary(self.teacher(x)), self.inner.targets(x, y))

    def sums(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        teacher, labels = unpack(targets, self.classes)
        agree = (primary(outputs).argmax(dim=-1) == teacher.argmax(dim=-1)).sum().double().view(1)
        return torch.cat([self.inner.sums(outputs, labels), agree])

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        return {**self.inner.metrics(sums[:-1], count), "val_teacher_agreement": sums[-1].item() / count}

    def confusion(self, sums: torch.Tensor) -> torch.Tensor | None:
        return self.inner.confusion(sums[:-1])


class TeacherParams(Params):
    """Which network teaches: its architecture, and trained weights from MLflow or a file, or trained here first."""

    model: dict[str, Any] = Field(description="the teacher's model, as the spec's `model` (e.g. {name: mlp, ...})")
    source: WeightsSource | None = Field(None, min_length=1, description="models:/NAME@ALIAS, models:/NAME/VERSION, "
                                                               "runs:/RUN_ID/model, or a state_dict file")
    train_epochs: int | None = Field(None, gt=0, le=100_000, description="without a source: train the teacher on "
                                                                         "the job's data for this many epochs first")

    @model_validator(mode="after")
    def _one_origin(self) -> TeacherParams:
        if (self.source is None) == (self.train_epochs is None):
            raise ValueError("give the teacher either a source (trained weights) or train_epochs (train it here)")
        return self


class DistillationParams(Params):
    """The teacher, the blend of soft and hard losses, and the softening temperature."""

    teacher: TeacherParams
    alpha: float = Field(0.9, ge=0.0, le=1.0, description="weight of the teacher term; 1 - alpha weighs the labels")
    temperature: float = Field(4.0, gt=0.0, le=100.0, description="T: softens both distributions")


def teacher_spec(spec: JobSpec, teacher: TeacherParams) -> JobSpec:
    """The job with the teacher's model (and epochs, when trained here), as a plain job."""
    from trainworks.spec.load import validate_spec
    from trainworks.spec.schema import EXPERIMENT_SECTIONS

    raw = spec.model_dump(mode="json", exclude={"strategy", *EXPERIMENT_SECTIONS})
    raw["model"] = teacher.model
    raw["training"]["epochs"] = teacher.train_epochs or spec.training.epochs
    raw["evaluation"] = {}
    return validate_spec(raw)


def build_teacher(spec: JobSpec, teacher: TeacherParams, data: DataBundle, dist: Distributed) -> nn.Module:
    """The teacher on this worker's device, loaded (or trained on the job's data), frozen and in eval mode."""
    from trainworks.engine.assemble import build_model

    own = teacher_spec(spec, teacher)
    if teacher.source is not None:
        model = build_model(own, data)
        model.load_state_dict(load_state_dict(teacher.source))
    else:
        model = _trained_teacher(own, data, dist)
    model = model.to(dist.device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


class _Silent:
    """A reporter that keeps nothing: the teacher's own epochs are not the run's."""

    def epoch_end(self, record: Any, save: Any) -> None:
        pass

    def fit_end(self, save: Any) -> None:
        pass


def _trained_teacher(spec: JobSpec, data: DataBundle, dist: Distributed) -> nn.Module:
    """Train the teacher with the same loop (under DDP on workers, so every rank gets the same teacher)."""
    from trainworks.engine.assemble import build_parts, loop_settings
    from trainworks.engine.loop import fit

    return fit(build_parts(spec, data, dist.device), loop_settings(spec), dist, _Silent()).model


def _teacher_issues(spec: JobSpec) -> list[Issue]:
    """The teacher's model must make a valid job with this data."""
    from trainworks.spec.errors import Issue, SpecError

    try:
        teacher_spec(spec, spec.strategy.teacher)
    except SpecError as error:
        return [Issue(("strategy", "teacher", *issue.parts), issue.message) for issue in error.issues]
    return []


@STRATEGIES.register("distillation", DistillationParams, tags=("classification",))
def distillation(params: DistillationParams) -> Strategy:
    """Knowledge distillation: the spec's model learns from a teacher's softened outputs as well as the labels."""

    def adapt(spec: JobSpec, data: DataBundle, parts: Parts, dist: Distributed) -> None:
        teacher = build_teacher(spec, params.teacher, data, dist)
        classes = data.info.num_outputs
        parts.objective = Distill(parts.objective, teacher, classes)
        parts.loss = DistillationLoss(parts.loss, classes, params.alpha, params.temperature)

    return PartsStrategy(adapt, _teacher_issues)

