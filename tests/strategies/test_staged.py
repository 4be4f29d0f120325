"""Staged training: weights carry across stages, stages override the spec, one MLflow run marks each epoch's stage."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_spec
from tests.runtime.test_job_inline import inline, quiet
from trainworks.engine.hooks import Hook
from trainworks.runtime.job import run_job
from trainworks.spec import SpecError

TWO_STAGES = {"name": "staged", "stages": [{"name": "warm", "epochs": 3}, {"name": "fine", "set": {"optimizer.lr": 0.001}}]}


def history(tracker, run_id: str, metric: str) -> list[float]:
    points = sorted(tracker.client.get_metric_history(run_id, metric), key=lambda point: point.step)
    return [point.value for point in points]


def test_second_stage_starts_where_the_first_ended_and_every_epoch_names_its_stage(tracker) -> None:
    spec = make_spec(strategy=TWO_STAGES, training={"epochs": 5}, tracking={"log_model": False})
    summary = run_job(spec, inline(), tracker, quiet())
    losses, lrs = history(tracker, summary.run_id, "train_loss"), history(tracker, summary.run_id, "lr")
    assert history(tracker, summary.run_id, "stage") == [0, 0, 0, 1, 1]
    assert lrs == [0.01, 0.01, 0.01, 0.001, 0.001]
    fresh_start = losses[0]  # a model from scratch: the first epoch's loss
    assert abs(losses[3] - losses[2]) < 0.25 * (fresh_start - losses[2]), losses  # weights carried, not re-initialised
    assert losses[3] < 0.5 * fresh_start


class InputSizes(Hook):
    """Records the image size of every training batch and the output layer's weights after every step."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.heads: list[torch.Tensor] = []

    def on_train_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.sizes.append(x.shape[-1])
        return x, y

    def on_step_end(self, model: torch.nn.Module, step: int) -> None:
        self.heads.append(model.classifier[-1].weight.detach().clone())


PROGRESSIVE = {
    "name": "progressive-digits",
    "data": {"dataset": "digits", "preprocessing": [{"name": "resize", "size": 32}]},
    "model": {"name": "guide_cnn", "hidden": 32, "pooled_size": 4},
    "strategy": {"name": "staged", "stages": [{"epochs": 1, "set": {"data.preprocessing[0].size": 16},
                                               "freeze": ["classifier"]},
                                              {}]},
    "training": {"epochs": 2, "batch_size": 128},
    "tracking": {"experiment": "tests", "log_model": False},
}


def test_progressive_resize_trains_at_16_then_32_pixels_with_the_head_frozen_first(tracker) -> None:
    seen = InputSizes()
    summary = run_job(make_spec(PROGRESSIVE), inline(extra_hooks=(seen,)), tracker, quiet())
    batches = len(seen.sizes) // 2
    assert seen.sizes == [16] * batches + [32] * batches
    assert history(tracker, summary.run_id, "stage") == [0, 1]
    first, second = seen.heads[:batches], seen.heads[batches:]
    assert all(torch.equal(head, first[0]) for head in first)  # frozen through stage 0
    assert not torch.equal(second[-1], first[0])  # trained in stage 1


def test_stage_settings_are_checked_when_the_spec_loads() -> None:
    bad = {"name": "staged", "stages": [{"epochs": 2, "set": {"model.hidden": [8]}},
                                        {"epochs": 3, "set": {"optimizer.lr": -1}}]}
    with pytest.raises(SpecError) as error:
        make_spec(strategy=bad)
    paths = {issue.path for issue in error.value.issues}
    assert paths == {"strategy.stages[0].set.model.hidden", "strategy.stages[1].epochs"}, paths
    with pytest.raises(SpecError, match="not a valid job.*optimizer.lr"):
        make_spec(strategy={"name": "staged", "stages": [{"epochs": 2, "set": {"optimizer.lr": -1}}, {}]})


class InterruptAtEpochStart(Hook):
    """Ctrl-C as the n-th epoch of the whole run starts (stages count their epochs from 1 each)."""

    def __init__(self, n: int) -> None:
        self.n, self.started = n, 0

    def on_epoch_start(self, epoch: int) -> None:
        self.started += 1
        if self.started == self.n:
            raise KeyboardInterrupt


def test_a_run_stopped_in_its_second_stage_resumes_inside_that_stage(tracker) -> None:
    spec = make_spec(strategy=TWO_STAGES, training={"epochs": 5}, tracking={"log_model": False})
    with pytest.raises(KeyboardInterrupt):
        run_job(spec, inline(extra_hooks=(InterruptAtEpochStart(5),)), tracker, quiet())
    run_id = tracker.client.search_runs([tracker.client.get_experiment_by_name("tests").experiment_id],
                                        order_by=["attributes.start_time DESC"], max_results=1)[0].info.run_id
    assert history(tracker, run_id, "stage") == [0, 0, 0, 1]
    resumed = InterruptAtEpochStart(0)  # counts the epochs the resumed run trains
    run_job(spec, inline(resume=run_id, extra_hooks=(resumed,)), tracker, quiet())
    assert resumed.started == 1
    assert history(tracker, run_id, "stage") == [0, 0, 0, 1, 1]
    assert history(tracker, run_id, "lr") == [0.01, 0.01, 0.01, 0.001, 0.001]
