"""The Ray Train path: two workers really run DDP on disjoint shards and agree with the in-process loop."""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import ray.cloudpickle
import torch
import torch.distributed as dist
from rich.console import Console

from tests.conftest import JOBS, make_spec
from trainworks.data.prepare import prepare_data
from trainworks.engine.hooks import Hook
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, run_job

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hooks below travel to the workers


def row_key(row: torch.Tensor) -> str:
    return row.numpy().tobytes().hex()


class ShardRecorder(Hook):
    """Writes, per rank, the training rows it saw in epoch 1 (and that it ran under torch.distributed)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.epoch, self.rows = folder, 0, []

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch(self, x, y):
        if self.epoch == 1:
            self.rows.extend(row_key(row) for row in x)
        return x, y

    def on_validation_end(self, epoch: int, metrics: dict[str, float]) -> bool:
        if epoch == 1:
            record = {"world_size": dist.get_world_size(), "rows": self.rows}
            (self.folder / f"rank{dist.get_rank()}.json").write_text(json.dumps(record))
        return False


def quiet() -> Terminal:
    return Terminal(Console(file=io.StringIO()))


def test_two_workers_train_ddp_on_disjoint_shards_like_the_inline_loop(ray_session, tracker, tmp_path: Path) -> None:
    spec = make_spec(scaling={"num_workers": 2}, training={"epochs": 2, "batch_size": 64})
    ray_run = run_job(spec, RunOptions(JOBS / "quickstart.yaml", extra_hooks=(ShardRecorder(tmp_path),)),
                      tracker, quiet())
    shards = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [shard["world_size"] for shard in shards] == [2, 2]
    first, second = Counter(shards[0]["rows"]), Counter(shards[1]["rows"])
    data = prepare_data(spec.data, spec.data.split_seed)
    assert len(data.train) % 2 == 0  # so no example is trimmed: every one is seen exactly once per epoch
    assert sum(first.values()) == sum(second.values()) == len(data.train) // 2
    assert first + second == Counter(row_key(row) for row in data.train.x)  # disjoint shards, whole split

    run = tracker.client.get_run(ray_run.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["trainworks.workers"] == "2"
    assert sorted(p.step for p in tracker.client.get_metric_history(ray_run.run_id, "val_accuracy")) == [1, 2]

    inline_run = run_job(spec, RunOptions(JOBS / "quickstart.yaml", inline=True), tracker, quiet())
    for name in ("val_loss", "val_accuracy"):
        assert ray_run.metrics[name] == pytest.approx(inline_run.metrics[name], rel=1e-4, abs=1e-4)
