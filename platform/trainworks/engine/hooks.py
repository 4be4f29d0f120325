"""The loop's events: a trick is a Hook that overrides only the events it acts on.

Ten events, each with the objects it may use and a return value where it may change
something, so no trick edits a shared mutable state behind the loop's back.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


class Hook:
    """Base class: every event is a no-op."""

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Before the first epoch (also after a resume) and before DDP wraps the model: layout changes, compiling."""

    def on_epoch_start(self, epoch: int) -> None:
        """Before each training epoch; epochs count from 1."""

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform a training batch (augmentation, mixup); validation batches never pass here."""
        return x, y

    def on_loss(self, loss: torch.Tensor, model: nn.Module) -> torch.Tensor:
        """Add to the loss before backward (penalties)."""
        return loss

    def on_before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Gradients are complete and unscaled; the optimiser has not stepped (clipping)."""

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """After each optimiser step (weight averages)."""

    def eval_model(self, model: nn.Module) -> nn.Module:
        """The model validation runs (weight averages return their averaged copy)."""
        return model

    def eval_views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Views of a validation batch whose outputs are averaged (test-time augmentation)."""
        return [x]

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        """After validation; return True to stop training after this epoch."""
        return False

    def on_fit_end(self, model: nn.Module) -> bool:
        """After the last epoch; return True if the model's weights were changed (e.g. best restored)."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must hold for this hook to resume exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict() returned."""


class Hooks:
    """Calls every hook in order for each event."""

    def __init__(self, hooks: Sequence[Hook]) -> None:
        self.hooks = list(hooks)

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for hook in self.hooks:
            hook.on_fit_start(model, optimizer)

    def on_epoch_start(self, epoch: int) -> None:
        for hook in self.hooks:
            hook.on_epoch_start(epoch)

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for hook in self.hooks:
            x, y = hook.on_train_batch(x, y)
        return x, y

    def on_loss(self, loss: torch.Tensor, model: nn.Module) -> torch.Tensor:
        for hook in self.hooks:
            loss = hook.on_loss(loss, model)
        return loss

    def on_before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for hook in self.hooks:
            hook.on_before_step(model, optimizer)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        for hook in self.hooks:
            hook.on_step_end(model, step)

    def eval_model(self, model: nn.Module) -> nn.Module:
        for hook in self.hooks:
            model = hook.eval_model(model)
        return model

    def eval_views(self, x: torch.Tensor) -> list[torch.Tensor]:
        views = [x]
        for hook in self.hooks:
            views = [view for base in views for view in hook.eval_views(base)]
        return views

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        return any([hook.on_validation_end(epoch, metrics) for hook in self.hooks])

    def on_fit_end(self, model: nn.Module) -> bool:
        return any([hook.on_fit_end(model) for hook in self.hooks])

    def _keyed(self) -> dict[str, Hook]:
        """Hooks by class name (numbered when repeated), so state finds its hook whatever else is added."""
        keyed: dict[str, Hook] = {}
        for hook in self.hooks:
            name = type(hook).__name__
            keyed[name if name not in keyed else f"{name}#{len(keyed)}"] = hook
        return keyed

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {key: state for key, hook in self._keyed().items() if (state := hook.state_dict())}

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        for key, hook in self._keyed().items():
            if key in states:
                hook.load_state_dict(states[key])
