"""Every registry by the kind name users type (`trainworks list models`)."""

from __future__ import annotations

from trainworks.data import AUGMENTATIONS, DATASETS, PREPROCESSING
from trainworks.losses import LOSSES
from trainworks.models import MODELS
from trainworks import rl  # noqa: F401  (registers the gym data set and the policy-gradient loss)
from trainworks.optim import OPTIMIZERS, SCHEDULES
from trainworks.registry import Registry
from trainworks.strategies import STRATEGIES
from trainworks.tricks import TRICKS

REGISTRIES: dict[str, Registry] = {
    "datasets": DATASETS,
    "preprocessing": PREPROCESSING,
    "augmentations": AUGMENTATIONS,
    "models": MODELS,
    "optimizers": OPTIMIZERS,
    "schedules": SCHEDULES,
    "losses": LOSSES,
    "tricks": TRICKS,
    "strategies": STRATEGIES,
}


def registry_for(kind: str) -> Registry:
    """The registry for a kind, singular or plural (`model` or `models`); unknown kinds list the valid ones."""
    for name, registry in REGISTRIES.items():
        if kind in (name, name.rstrip("s"), registry.kind):
            return registry
    raise KeyError(f"unknown kind '{kind}'; valid: {', '.join(REGISTRIES)}")


def _field(model: type, name: str) -> str:
    return model.model_fields[name].description or ""


def settings() -> list[tuple[str, str]]:
    """Catalogue tricks that are job settings rather than names: where to set them and what they do."""
    from trainworks.spec.schema import TrainingSpec

    mlp = MODELS.get("mlp").params
    adamw = OPTIMIZERS.get("adamw").params
    rows = [(f"training.{name}", _field(TrainingSpec, name))
            for name in ("precision", "grad_accumulation", "grad_clip_norm", "seed")]
    rows += [(f"model.{name} (mlp)", _field(mlp, name)) for name in ("dropout", "batch_norm")]
    rows.append(("optimizer.decay_biases_and_norms", _field(adamw, "decay_biases_and_norms")))
    return rows
