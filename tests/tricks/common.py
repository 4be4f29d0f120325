"""Helpers for trick tests: build a trick by name, run the real in-process loop with extra hooks around the spec's."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from tests.engine.test_loop import Recorder
from trainworks.data.prepare import prepare_data
from trainworks.data.types import DataBundle, DataInfo
from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.checkpoint import Checkpoint
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.hooks import Hook
from trainworks.engine.loop import FitResult, fit
from trainworks.spec import JobSpec
from trainworks.tricks import TRICKS, TrickContext

DIGITS_INFO = DataInfo("classification", "image", (1, 8, 8), 10)


def trick_hook(name: str, info: DataInfo = DIGITS_INFO, epochs: int = 4, steps_per_epoch: int = 10,
               **params: Any) -> Hook:
    """The hook the registry builds for `name` with these parameters (validated as in a job file)."""
    entry = TRICKS.get(name)
    return entry.build(entry.params(**params), TrickContext(info, epochs, steps_per_epoch))


def run_fit(spec: JobSpec, data: DataBundle | None = None, before: Sequence[Hook] = (), after: Sequence[Hook] = (),
            reporter: Recorder | None = None, resume: Checkpoint | None = None) -> tuple[FitResult, Recorder]:
    """fit() in this process, with test hooks placed before and after the spec's own."""
    data = data or prepare_data(spec.data, spec.data.split_seed)
    parts = build_parts(spec, data, torch.device("cpu"))
    parts.hooks.hooks[:0] = list(before)
    parts.hooks.hooks.extend(after)
    reporter = reporter or Recorder()
    return fit(parts, loop_settings(spec), SingleProcess(), reporter, resume), reporter


def weights(model: nn.Module) -> list[torch.Tensor]:
    """A detached copy of the model's parameters."""
    return [p.detach().clone() for p in model.parameters()]


class WeightLog(Hook):
    """Records the model's parameters after every step and at every epoch's validation."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.steps: list[list[torch.Tensor]] = []
        self.epochs: dict[int, list[torch.Tensor]] = {}

    def on_fit_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model

    def on_step_end(self, model: nn.Module, step: int) -> None:
        self.steps.append(weights(model))

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        assert self.model is not None
        self.epochs[epoch] = weights(self.model)
        return False


def assert_same(expected: Sequence[torch.Tensor], actual: Sequence[torch.Tensor], atol: float = 0.0) -> None:
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        assert torch.allclose(e, a, atol=atol, rtol=0.0 if atol == 0.0 else 1e-5), (e - a).abs().max()
