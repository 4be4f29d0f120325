"""Where starting weights come from (the MLflow registry, a run, a state_dict file) and how a new head is fitted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import AfterValidator, ValidationInfo
from torch import nn

from trainworks.paths import ExistingFile

MLFLOW_SCHEMES = ("models:/", "runs:/")


def is_mlflow_uri(source: str) -> bool:
    """`models:/NAME@ALIAS`, `models:/NAME/VERSION` or `runs:/RUN_ID/model`."""
    return source.startswith(MLFLOW_SCHEMES)


def _resolve_source(source: str, info: ValidationInfo) -> str:
    """MLflow URIs as given; files relative to the job file, and they must exist."""
    if is_mlflow_uri(source):
        return source
    from pydantic import TypeAdapter

    return str(TypeAdapter(ExistingFile).validate_python(source, context=info.context))


WeightsSource = Annotated[str, AfterValidator(_resolve_source)]


def load_state_dict(source: str) -> dict[str, torch.Tensor]:
    """Tensors by parameter name, from an MLflow model URI or a file (read with weights_only=True)."""
    if is_mlflow_uri(source):
        return _mlflow_state_dict(source)
    loaded = torch.load(Path(source).expanduser(), map_location="cpu", weights_only=True)
    return _unwrap_state(loaded, source)


def _mlflow_state_dict(uri: str) -> dict[str, torch.Tensor]:
    """The logged model's tensors; the store is MLFLOW_TRACKING_URI, else the working directory's mlruns.db."""
    import mlflow.pytorch
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

    from trainworks.tracking.mlflow_tracker import default_tracking_uri

    if not is_tracking_uri_set():  # never pointed anywhere in this process (a Ray worker): trainworks' default
        mlflow.set_tracking_uri(default_tracking_uri())
        mlflow.set_registry_uri(default_tracking_uri())
    model = mlflow.pytorch.load_model(uri, map_location="cpu")
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _unwrap_state(loaded: Any, source: str) -> dict[str, torch.Tensor]:
    """A plain state_dict, or a trainworks checkpoint's (its `model` entry)."""
    if isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        loaded = loaded["model"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ValueError(f"{source} holds no state_dict (a mapping of parameter names to tensors)")
    return loaded


def head_prefix(model: nn.Module) -> str:
    """The module name of the model's output layer: its last linear layer (mlp, guide_cnn, resnet18's fc)."""
    linear = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no linear output layer to replace")
    return linear[-1]


def in_module(name: str, prefix: str) -> bool:
    """Whether parameter `name` belongs to module `prefix` (or is it)."""
    return name == prefix or name.startswith(prefix + ".")


def load_all_but_head(model: nn.Module, state: dict[str, torch.Tensor], head: str | None = None) -> list[str]:
    """Copy every tensor except the head's into `model` (which keeps its own, fresh head); returns the head's names.

    The head is the module named `head` (e.g. guide_cnn's whole `classifier`), by default the last linear layer.

    Everything else must match by name and shape: a partial match would silently train
    from a mix of loaded and random layers.
    """
    head = head or head_prefix(model)
    own = model.state_dict()
    if not any(in_module(name, head) for name in own):
        raise ValueError(f"the model has no module '{head}'; its parameters: {', '.join(list(own)[:8])}")
    wanted = {name for name in own if not in_module(name, head)}
    given = {name for name in state if not in_module(name, head)}
    missing, unexpected = sorted(wanted - given), sorted(given - wanted)
    wrong = sorted(name for name in wanted & given if own[name].shape != state[name].shape)
    if missing or unexpected or wrong:
        raise ValueError("the weights do not fit the spec's model: "
                         + "; ".join(f"{label}: {', '.join(names[:5])}" for label, names in
                                     (("missing", missing), ("unexpected", unexpected), ("other shape", wrong))
                                     if names))
    model.load_state_dict({**own, **{name: state[name] for name in wanted}})
    return [name for name in own if in_module(name, head)]
