"""The job spec: one typed, strict model of everything a job file may say, each field with its reason."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainworks.data import AUGMENTATIONS, DATASETS, PREPROCESSING
from trainworks.losses import LOSSES
from trainworks.models import MODELS
from trainworks import rl  # noqa: F401  (registers the gym data set and the policy-gradient loss)
from trainworks.optim import OPTIMIZERS, SCHEDULES
from trainworks.spec.components import choice_of
from trainworks.spec.ablation import AblationSpec
from trainworks.spec.ensemble import EnsembleSpec
from trainworks.spec.tune import TuneSpec
from trainworks.strategies import STRATEGIES
from trainworks.strategies.attacks import PGDParams
from trainworks.strict_numbers import booleans_as_text
from trainworks.tricks import TRICKS

PositiveInt = Annotated[int, Field(gt=0)]
EXPERIMENT_SECTIONS = ("tune", "ensemble", "ablation")  # run many jobs; each of those jobs has none of them

DatasetChoice = choice_of(DATASETS)
PreprocessingChoice = choice_of(PREPROCESSING)
AugmentationChoice = choice_of(AUGMENTATIONS)
ModelChoice = choice_of(MODELS)
OptimizerChoice = choice_of(OPTIMIZERS)
ScheduleChoice = choice_of(SCHEDULES)
LossChoice = choice_of(LOSSES)
TrickChoice = choice_of(TRICKS)
StrategyChoice = choice_of(STRATEGIES)


class Section(BaseModel):
    """Strict: unknown keys, NaN and infinity are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: object) -> object:
        return booleans_as_text(cls, data)


class DataSpec(Section):
    """Where the examples come from and what happens to them before the model sees them."""

    dataset: DatasetChoice = Field(description="data set by name, with its options (trainworks list datasets)")
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share held out for validation, stratified by class")
    split_seed: int = Field(0, description="seed of the train/validation split (kept apart from the training seed)")
    preprocessing: list[PreprocessingChoice] = Field(
        default_factory=list, description="steps fitted on the training split only, in order"
    )
    augmentation: list[AugmentationChoice] = Field(
        default_factory=list, description="random transforms of training batches only"
    )


class TrainingSpec(Section):
    """How long and how the loop trains."""

    epochs: Annotated[int, Field(gt=0, le=100_000)] = Field(description="passes over the training split")
    batch_size: PositiveInt = Field(64, description="global batch: split evenly across Ray Train workers")
    seed: int = Field(0, description="seeds model init, shuffling and dropout; the same seed gives the same run")
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="autocast dtype: bf16 on CPU or GPU, fp16 (with loss scaling) on GPU only"
    )
    grad_accumulation: PositiveInt = Field(1, description="micro-batches summed per optimiser step")
    grad_clip_norm: float | None = Field(None, gt=0.0, description="clip the global gradient norm to this value")


class ScalingSpec(Section):
    """How many Ray Train workers, and what each one gets."""

    num_workers: Annotated[int, Field(gt=0, le=1024)] = Field(1, description="data-parallel Ray Train workers (DDP)")
    use_gpu: bool = Field(False, description="one GPU per worker and NCCL; gloo on CPU otherwise")
    cpus_per_worker: float = Field(1.0, gt=0.0, le=512, description="CPUs reserved per worker; also its torch threads")
    max_failures: int = Field(0, ge=-1, description="worker failures to survive by restarting from the last checkpoint; -1: no limit")


class TrackingSpec(Section):
    """Where the run shows up in MLflow."""

    experiment: str = Field("trainworks", min_length=1, description="MLflow experiment name")
    run_name: str | None = Field(None, min_length=1, description="MLflow run name; the spec's name if unset")
    registered_model: str | None = Field(
        None, min_length=1, description="register the trained model under this name in the MLflow Model Registry"
    )
    log_model: bool = Field(True, description="log the trained model (mlflow.pytorch, with signature and example)")


class CheckpointSpec(Section):
    """Where every epoch's checkpoint goes, so a crashed run resumes."""

    storage_path: str = Field(
        "checkpoints", min_length=1,
        description="folder (relative to the working directory) or URI shared by all workers",
    )
    keep: PositiveInt = Field(2, description="newest checkpoints kept per run")


class EvaluationSpec(Section):
    """Extra measures of the model on the validation split, every epoch and at the end."""

    robust_accuracy: PGDParams | None = Field(
        None, description="log val_robust_accuracy: accuracy under this PGD attack (classifiers, any strategy)")


class JobSpec(Section):
    """One experiment: data, model, optimiser, schedule, loss, training, scaling and tracking."""

    name: str = Field("job", min_length=1, description="short name; the default MLflow run name")
    description: str = Field("", description="free text, logged as the run's description")
    data: DataSpec
    model: ModelChoice = Field(description="model by name, with its options (trainworks list models)")
    optimizer: OptimizerChoice = Field({"name": "adam"}, validate_default=True, description="optimiser by name")
    schedule: ScheduleChoice = Field(
        {"name": "constant"}, validate_default=True, description="learning-rate schedule by name"
    )
    loss: LossChoice = Field({"name": "cross_entropy"}, validate_default=True, description="loss by name")
    tricks: list[TrickChoice] = Field(default_factory=list, description="training tricks by name, applied in order "
                                                                        "(trainworks list tricks)")
    strategy: StrategyChoice = Field(
        {"name": "standard"}, validate_default=True,
        description="how training runs as a whole: standard, staged, transfer, adversarial, distillation "
                    "(trainworks list strategies)")
    training: TrainingSpec
    evaluation: EvaluationSpec = EvaluationSpec()
    scaling: ScalingSpec = ScalingSpec()
    tracking: TrackingSpec = TrackingSpec()
    checkpoint: CheckpointSpec = CheckpointSpec()
    tune: TuneSpec | None = Field(None, description="hyper-parameter search run by `trainworks tune`")
    ensemble: EnsembleSpec | None = Field(None, description="train several members and combine them "
                                                            "(`trainworks run` trains the ensemble)")
    ablation: AblationSpec | None = Field(None, description="tricks to switch off, compared by `trainworks ablate`")
