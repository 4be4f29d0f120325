"""Linear warm-up for a number of steps or epochs, then any other schedule takes over from where it starts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from trainworks.optim.nested import nested_choice
from trainworks.optim.schedules import SCHEDULES, Plan, Schedule
from trainworks.registry import Params

FollowingChoice = nested_choice(SCHEDULES, keep=lambda entry: True)


def warmup_factor(position: int, length: int, start_factor: float) -> float:
    """Share of the target rate at warm-up position t (from 0): start + (1 - start) * t / length, then 1."""
    if position >= length:
        return 1.0
    return start_factor + (1.0 - start_factor) * position / length


class Warmup(Schedule):
    """Scales the rates that `then` starts from by warmup_factor while warming, then hands every event to `then`.

    `then` is built first (it sets its own starting rates); once warm-up ends, the rates are
    exactly those again, so `then` continues as if it had run alone from that moment.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, length: int, unit: Literal["step", "epoch"],
                 start_factor: float, then: Schedule) -> None:
        self.optimizer, self.length, self.unit, self.start_factor = optimizer, length, unit, start_factor
        self.then = then
        self.targets = [group["lr"] for group in optimizer.param_groups]
        self.position = 0
        self._apply()

    @property
    def warming(self) -> bool:
        return self.position < self.length

    def _apply(self) -> None:
        factor = warmup_factor(self.position, self.length, self.start_factor)
        for group, target in zip(self.optimizer.param_groups, self.targets):
            group["lr"] = target * factor

    def _tick(self, unit: str) -> bool:
        """Advance the warm-up if this event is its unit; False once warm-up is over (the event is `then`'s)."""
        if not self.warming:
            return False
        if unit == self.unit:
            self.position += 1
            self._apply()
        return True

    def step_end(self) -> None:
        if not self._tick("step"):
            self.then.step_end()

    def epoch_end(self, metrics: dict[str, float]) -> None:
        if not self._tick("epoch"):
            self.then.epoch_end(metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "targets": list(self.targets), "then": self.then.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position, self.targets = int(state["position"]), list(state["targets"])
        self.then.load_state_dict(state["then"])


class WarmupParams(Params):
    """How long the warm-up lasts (steps or epochs), where it starts, and which schedule follows."""

    steps: int | None = Field(None, gt=0, description="warm up over this many optimiser steps")
    epochs: int | None = Field(None, gt=0, description="or over this many epochs (the rate changes once per epoch)")
    start_factor: float = Field(0.0, ge=0.0, lt=1.0, description="the first rate, as a share of the target rate")
    then: FollowingChoice = Field({"name": "constant"}, validate_default=True,  # type: ignore[valid-type]
                                  description="the schedule that takes over, counting from the end of warm-up")

    @model_validator(mode="after")
    def _one_length(self) -> WarmupParams:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give the warm-up's length as steps or as epochs (one of them)")
        return self


@SCHEDULES.register("warmup", WarmupParams)
def build_warmup(params: WarmupParams, optimizer: torch.optim.Optimizer, plan: Plan) -> Schedule:
    """Linear warm-up from start_factor * lr to lr over N steps or epochs, then hands over to another schedule."""
    unit, length = ("step", params.steps) if params.steps else ("epoch", params.epochs)
    assert length is not None
    warmup_steps = length if unit == "step" else length * plan.steps_per_epoch
    then_plan = replace(plan, steps_before=plan.steps_before + warmup_steps)
    then = SCHEDULES.get(params.then.name).build(params.then, optimizer, then_plan)
    return Warmup(optimizer, length, unit, params.start_factor, then)
