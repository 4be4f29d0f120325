"""The strategy registry: how a supervised job trains as a whole (one fit, stages, a teacher, attacks).

A strategy's builder takes its parameters and returns a `Strategy`; the supervised family
hands it the whole training. Strategies that only change the parts of one fit (load
weights, add a hook, swap the objective) are a `PartsStrategy` around an `adapt` function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import torch

from trainworks.data.types import DataBundle
from trainworks.engine.checkpoint import Checkpoint
from trainworks.engine.distributed import Distributed
from trainworks.engine.hooks import Hook
from trainworks.engine.loop import Parts, Reporter
from trainworks.registry import NoParams, Params, Registry

if TYPE_CHECKING:  # the spec imports this registry: nothing of trainworks.spec at import time
    from trainworks.spec.errors import Issue
    from trainworks.spec.schema import JobSpec


class Strategy(Protocol):
    """Trains a supervised job from its spec and checks what the spec asks of it."""

    def train(self, spec: JobSpec, data: DataBundle, dist: Distributed, reporter: Reporter,
              resume: Checkpoint | None, extra_hooks: Sequence[Hook]) -> None: ...

    def issues(self, spec: JobSpec) -> list[Issue]: ...


StrategyBuilder = Callable[[Params], Strategy]
STRATEGIES: Registry[StrategyBuilder] = Registry("strategy")

Adapt = Callable[["JobSpec", DataBundle, Parts, Distributed], None]


def job_parts(spec: JobSpec, data: DataBundle, device: torch.device, extra_hooks: Sequence[Hook]) -> Parts:
    """The spec's parts with the caller's hooks after the spec's own."""
    from trainworks.engine.assemble import build_parts

    parts = build_parts(spec, data, device)
    parts.hooks.hooks.extend(extra_hooks)
    return parts


def no_issues(spec: JobSpec) -> list[Issue]:
    """For strategies whose parameters say all there is to check."""
    return []


@dataclass(frozen=True)
class PartsStrategy:
    """One fit of the spec's parts, changed by `adapt` before training starts (and before a resume loads)."""

    adapt: Adapt
    check: Callable[[JobSpec], list[Issue]] = no_issues

    def train(self, spec: JobSpec, data: DataBundle, dist: Distributed, reporter: Reporter,
              resume: Checkpoint | None, extra_hooks: Sequence[Hook]) -> None:
        from trainworks.engine.assemble import loop_settings
        from trainworks.engine.loop import fit

        parts = job_parts(spec, data, dist.device, extra_hooks)
        self.adapt(spec, data, parts, dist)
        fit(parts, loop_settings(spec), dist, reporter, resume)

    def issues(self, spec: JobSpec) -> list[Issue]:
        return self.check(spec)


def _unchanged(spec: JobSpec, data: DataBundle, parts: Parts, dist: Distributed) -> None:
    """The standard strategy changes nothing."""


@STRATEGIES.register("standard", NoParams)
def standard(params: NoParams) -> Strategy:
    """One training run of the spec as written (the default)."""
    return PartsStrategy(_unchanged)


def strategy_of(spec: JobSpec) -> Strategy:
    """The spec's strategy, built from its parameters."""
    return STRATEGIES.get(spec.strategy.name).build(spec.strategy)
