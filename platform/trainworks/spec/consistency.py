"""Checks across fields that no single field can make: the spec must describe a job that can run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from trainworks.data import AUGMENTATIONS, DATASETS, PREPROCESSING
from trainworks.losses import LOSSES
from trainworks.models import MODELS
from trainworks.optim import OPTIMIZERS
from trainworks.spec.errors import Issue
from trainworks.tricks import TRICKS

if TYPE_CHECKING:
    from trainworks.spec.schema import JobSpec


MODALITIES = ("image", "table", "sequence", "environment")
# which step tags a data set's modality accepts: a series is a table until it is cut into windows
STEP_TAGS_FOR: dict[str, frozenset[str]] = {
    "image": frozenset({"image"}), "table": frozenset({"table"}), "sequence": frozenset({"table", "sequence"}),
    "environment": frozenset()}


def data_modality(spec: JobSpec) -> str:
    """'image', 'table', 'sequence' or 'environment': what the data set hands to preprocessing and the model."""
    tags = DATASETS.get(spec.data.dataset.name).tags
    return next((modality for modality in MODALITIES if modality in tags), "table")


def data_task(spec: JobSpec) -> str:
    """'classification' or 'regression': what the data set's targets are."""
    return getattr(spec.data.dataset, "task", "classification")


MODEL_FAMILY_TASKS = {"reconstruction": "reconstruction", "gan": "generation", "policy": "control"}


def job_task(spec: JobSpec) -> str:
    """What the job learns: the model family's task (autoencoders reconstruct, GANs generate,
    policies control) or else the data set's."""
    tags = MODELS.get(spec.model.name).tags
    return next((task for tag, task in MODEL_FAMILY_TASKS.items() if tag in tags), data_task(spec))


def check_consistency(spec: JobSpec) -> list[Issue]:
    """Every cross-field problem, each at the path the user should edit."""
    return [*_data_issues(spec), *_model_and_loss_issues(spec), *_training_issues(spec), *_trick_issues(spec),
            *_strategy_issues(spec), *_ensemble_issues(spec), *_ablation_issues(spec)]


def _ensemble_issues(spec: JobSpec) -> list[Issue]:
    """Ensembles combine classifiers' or regressors' outputs, and are not searched themselves."""
    if spec.ensemble is None:
        return []
    task = job_task(spec)
    if spec.tune is not None:
        return [Issue(("ensemble",), "a job is either a search (tune:) or an ensemble, not both; "
                                     "search first, then make an ensemble of the best config")]
    if task not in ("classification", "regression"):
        return [Issue(("ensemble",), f"ensembles combine classifiers or regressors; this job's task is {task}")]
    if spec.ensemble.combine == "vote" and task != "classification":
        return [Issue(("ensemble", "combine"), "'vote' needs a classifier; regressors are averaged (use mean)")]
    return []


def _ablation_issues(spec: JobSpec) -> list[Issue]:
    """An ablation switches off tricks the job has, each named once, and is a plain job otherwise."""
    if spec.ablation is None:
        return []
    if spec.tune is not None or spec.ensemble is not None:
        return [Issue(("ablation",), "ablate a plain job: remove its tune: or ensemble: section")]
    present = [trick.name for trick in spec.tricks]
    issues = []
    for index, name in enumerate(spec.ablation.tricks):
        if name not in present:
            issues.append(Issue(("ablation", "tricks", index), f"'{name}' is not among this job's tricks; "
                                                               f"valid: {', '.join(present) or 'none (tricks: is empty)'}"))
        elif spec.ablation.tricks.index(name) != index:
            issues.append(Issue(("ablation", "tricks", index), f"'{name}' is listed twice"))
    return issues


def _data_issues(spec: JobSpec) -> list[Issue]:
    modality, dataset = data_modality(spec), spec.data.dataset.name
    issues = []
    for field, registry in (("preprocessing", PREPROCESSING), ("augmentation", AUGMENTATIONS)):
        for index, step in enumerate(getattr(spec.data, field)):
            works_on = registry.get(step.name).tags & set(MODALITIES)
            if not works_on & STEP_TAGS_FOR[modality]:
                issues.append(Issue(("data", field, index, "name"), f"'{step.name}' works on "
                                    f"{' or '.join(sorted(works_on))}s; data set '{dataset}' gives {modality}s"))
    return issues


def _model_and_loss_issues(spec: JobSpec) -> list[Issue]:
    issues = []
    modality, task = data_modality(spec), job_task(spec)
    model_tags = MODELS.get(spec.model.name).tags
    if "image" in model_tags and modality != "image":
        issues.append(Issue(("model", "name"), f"'{spec.model.name}' needs images; data set "
                                               f"'{spec.data.dataset.name}' gives {modality}s (try mlp)"))
    if ("policy" in model_tags) != (modality == "environment"):
        policies = ", ".join(entry.name for entry in MODELS if "policy" in entry.tags)
        issues.append(Issue(("model", "name"), f"'{spec.model.name}' cannot learn from {modality}s; environments "
                                               f"need a policy model ({policies}) and policies an environment"))
    if spec.tricks and task in {"control", "generation"}:
        issues.append(Issue(("tricks",), f"tricks apply to supervised models; this job's task is {task}"))
    for index, trick in enumerate(spec.tricks):
        tags = TRICKS.get(trick.name).tags
        tasks, modalities = tags & {"classification", "regression"}, tags & set(MODALITIES)
        if (tasks and task not in tasks) or (modalities and modality not in modalities):
            needs = " ".join([" or ".join(sorted(tasks)), "on " + " or ".join(sorted(modalities)) if modalities else ""])
            issues.append(Issue(("tricks", index, "name"), f"'{trick.name}' needs {needs.strip()}; this job is "
                                                           f"{task} on {modality}s"))
    if task not in LOSSES.get(spec.loss.name).tags:
        valid = [entry.name for entry in LOSSES if task in entry.tags]
        issues.append(Issue(("loss", "name"), f"'{spec.loss.name}' does not fit a {task} task; use one of: "
                                              f"{', '.join(valid)}"))
    return issues


def _training_issues(spec: JobSpec) -> list[Issue]:
    issues = []
    training, workers = spec.training, spec.scaling.num_workers
    if training.batch_size % workers:
        issues.append(Issue(("training", "batch_size"), f"{training.batch_size} does not split evenly over "
                                                        f"scaling.num_workers = {workers}; use a multiple of {workers}"))
    elif training.batch_size // workers < training.grad_accumulation:
        issues.append(Issue(("training", "grad_accumulation"), f"{training.grad_accumulation} micro-batches need a "
                                                               f"per-worker batch of at least that many examples"))
    if training.precision == "fp16" and not spec.scaling.use_gpu:
        issues.append(Issue(("training", "precision"), "fp16 needs a GPU (scaling.use_gpu: true); use bf16 on CPU"))
    return issues + _closure_optimizer_issues(spec)


def _closure_optimizer_issues(spec: JobSpec) -> list[Issue]:
    """L-BFGS and its kind re-evaluate the loss through a closure: one worker, no fp16 (see optim/lbfgs.py)."""
    name = spec.optimizer.name
    if "closure" not in OPTIMIZERS.get(name).tags:
        return []
    issues = []
    if spec.scaling.num_workers > 1:
        issues.append(Issue(("scaling", "num_workers"), f"optimizer {name} runs on one worker only: each worker's line "
                                                        "search reads its own shard's loss, so workers would diverge "
                                                        "and DDP would hang; set 1"))
    if spec.training.precision == "fp16":
        issues.append(Issue(("training", "precision"), f"optimizer {name} steps through a closure, which fp16 loss "
                                                       "scaling cannot wrap; use fp32 or bf16"))
    return issues



TASK_METRICS = {"classification": {"val_loss", "val_accuracy", "train_loss"},
                "regression": {"val_loss", "val_rmse", "val_mae", "train_loss"},
                "reconstruction": {"val_loss", "val_mse", "train_loss"}}
WEIGHT_AVERAGES = ("ema", "swa")


def _trick_issues(spec: JobSpec) -> list[Issue]:
    """Tricks that cannot work together, or not with this job's settings."""
    names = [trick.name for trick in spec.tricks]
    issues = [Issue(("tricks", index, "name"), f"'{name}' is already listed at tricks[{names.index(name)}]")
              for index, name in enumerate(names) if names.index(name) != index]
    averages = [name for name in WEIGHT_AVERAGES if name in names]
    if len(averages) > 1:
        issues.append(Issue(("tricks", names.index(averages[-1]), "name"),
                            "ema and swa both replace the weights by an average; keep one"))
    for index, trick in enumerate(spec.tricks):
        rule = TRICK_RULES.get(trick.name)
        issues.extend(rule(spec, index, trick) if rule else [])
    return issues


def _early_stopping_rules(spec: JobSpec, index: int, trick: Any) -> list[Issue]:
    issues, task = [], job_task(spec)
    if trick.metric not in TASK_METRICS[task]:
        issues.append(Issue(("tricks", index, "metric"), f"a {task} job has no {trick.metric}; use one of: "
                                                         f"{', '.join(sorted(TASK_METRICS[task]))}"))
    later = [t.name for t in spec.tricks[index + 1:] if t.name in WEIGHT_AVERAGES]
    if trick.restore_best and later:
        issues.append(Issue(("tricks", index, "name"), f"list early_stopping after {later[0]}: it keeps the "
                                                       f"weights validation used, which {later[0]} replaces"))
    return issues


def _swa_rules(spec: JobSpec, index: int, trick: Any) -> list[Issue]:
    if trick.start_epoch is not None and trick.start_epoch > spec.training.epochs:
        return [Issue(("tricks", index, "start_epoch"), f"{trick.start_epoch} is after the last epoch "
                                                        f"(training.epochs = {spec.training.epochs})")]
    return []


def _grad_clip_rules(spec: JobSpec, index: int, trick: Any) -> list[Issue]:
    if spec.training.grad_clip_norm:
        return [Issue(("tricks", index, "name"), "training.grad_clip_norm already clips gradients; use one of the two")]
    return []


TRICK_RULES: dict[str, Callable[[JobSpec, int, Any], list[Issue]]] = {
    "early_stopping": _early_stopping_rules,
    "swa": _swa_rules,
    "grad_clip": _grad_clip_rules,
}


SUPERVISED_TASKS = ("classification", "regression", "reconstruction")


def _strategy_issues(spec: JobSpec) -> list[Issue]:
    """Strategies train supervised models (some only classifiers); then the strategy's own checks."""
    from trainworks.strategies import STRATEGIES, strategy_of

    task, name = job_task(spec), spec.strategy.name
    needs = STRATEGIES.get(name).tags & set(SUPERVISED_TASKS) or set(SUPERVISED_TASKS)
    issues = []
    if spec.evaluation.robust_accuracy is not None and task != "classification":
        issues.append(Issue(("evaluation", "robust_accuracy"), f"robust accuracy needs a classifier; this job's "
                                                               f"task is {task}"))
    if name != "standard" and task not in needs:
        return [*issues, Issue(("strategy", "name"), f"'{name}' needs a {' or '.join(sorted(needs))} job; this "
                                                     f"job's task is {task}")]
    return [*issues, *strategy_of(spec).issues(spec)]
