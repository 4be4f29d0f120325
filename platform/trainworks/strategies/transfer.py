"""Transfer learning: start from trained weights, give the model a new head for this job's classes, and
freeze the backbone (or train it more slowly) before letting it move."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import Field
from torch import nn

from trainworks.data.types import DataBundle
from trainworks.engine.batching import steps_per_epoch
from trainworks.engine.distributed import Distributed
from trainworks.engine.loop import Parts
from trainworks.registry import Params
from trainworks.strategies.freezing import Freeze
from trainworks.strategies.registry import STRATEGIES, PartsStrategy, Strategy
from trainworks.strategies.weights import WeightsSource, load_all_but_head, load_state_dict

if TYPE_CHECKING:
    from trainworks.spec.schema import JobSpec


class TransferParams(Params):
    """Where the weights come from and how the backbone is treated while the new head learns."""

    source: WeightsSource = Field(description="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model, or a "
                                              "state_dict file (e.g. torchvision's resnet18-f37072fd.pth)")
    head: str | None = Field(None, min_length=1, description="module trained afresh for the new classes (guide_cnn: "
                                                             "`classifier`); the last linear layer if unset")
    freeze_backbone_epochs: int | None = Field(
        None, ge=0, description="train only the head for this many epochs, then everything; never unfrozen if unset")
    backbone_lr_scale: float = Field(1.0, gt=0.0, le=1.0, description="the backbone's learning rate as a share of "
                                                                      "the head's, once it trains")


def split_backbone_groups(optimizer: torch.optim.Optimizer, head: set[str], model: nn.Module,
                          scale: float) -> None:
    """Give the backbone's parameters groups of their own at `scale` times each group's learning rate.

    Done before the schedule exists, so every schedule scales both groups alike.
    """
    head_ids = {id(p) for name, p in model.named_parameters() if name in head}
    groups = list(optimizer.param_groups)
    optimizer.param_groups.clear()
    for group in groups:
        for params, factor in (([p for p in group["params"] if id(p) in head_ids], 1.0),
                               ([p for p in group["params"] if id(p) not in head_ids], scale)):
            if params:
                settings = {key: value for key, value in group.items() if key not in ("params", "initial_lr")}
                optimizer.add_param_group({**settings, "params": params, "lr": group["lr"] * factor})


def rebuild_schedule(spec: JobSpec, parts: Parts) -> None:
    """A fresh schedule over the optimiser's present groups (build_parts made one over the old groups)."""
    from trainworks.optim import SCHEDULES, Plan

    plan = Plan(spec.training.epochs, steps_per_epoch(len(parts.data.train), spec.training.batch_size))
    parts.schedule = SCHEDULES.get(spec.schedule.name).build(spec.schedule, parts.optimizer, plan)


@STRATEGIES.register("transfer", TransferParams, tags=("classification",))
def transfer(params: TransferParams) -> Strategy:
    """Transfer learning: load trained weights, replace the head for these classes, freeze or slow the backbone."""

    def adapt(spec: JobSpec, data: DataBundle, parts: Parts, dist: Distributed) -> None:
        head = set(load_all_but_head(parts.model, load_state_dict(params.source), params.head))
        if params.backbone_lr_scale != 1.0:
            split_backbone_groups(parts.optimizer, head, parts.model, params.backbone_lr_scale)
            rebuild_schedule(spec, parts)
        if params.freeze_backbone_epochs != 0:
            # first: gradient clipping and the like then see only what trains
            parts.hooks.hooks.insert(0, Freeze(lambda name: name not in head, params.freeze_backbone_epochs))

    return PartsStrategy(adapt)
