"""Every registry by the kind name users type (`trainworks list models`)."""

from __future__ import annotations

from trainworks.data import AUGMENTATIONS, DATASETS, PREPROCESSING
from trainworks.losses import LOSSES
from trainworks.models import MODELS
from trainworks import rl  # noqa: F401  (registers the gym data set and the policy-gradient loss)
from trainworks.optim import OPTIMIZERS, SCHEDULES
from trainworks.registry import Registry
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
}


def registry_for(kind: str) -> Registry:
    """The registry for a kind, singular or plural (`model` or `models`); unknown kinds list the valid ones."""
    for name, registry in REGISTRIES.items():
        if kind in (name, name.rstrip("s"), registry.kind):
            return registry
    raise KeyError(f"unknown kind '{kind}'; valid: {', '.join(REGISTRIES)}")
