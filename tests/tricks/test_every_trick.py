"""Every registered trick trains through the real loop, resumes exactly, and changes what it says it changes.

Registry-driven: a trick registered without settings here fails, so none goes untested.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_spec
from tests.engine.test_loop import Recorder
from tests.tricks.common import assert_same, run_fit, weights
from trainworks.data.prepare import prepare_data
from trainworks.engine.checkpoint import load_checkpoint
from trainworks.tricks import TRICKS

# settings per trick, and what it changes against the same run without it:
#   weights: the trained weights;  metrics: validation only;  nothing: neither (a speed trick)
SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "channels_last": ({}, "nothing"),
    "compile": ({"backend": "aot_eager"}, "nothing"),
    "cutmix": ({"alpha": 1.0}, "weights"),
    "early_stopping": ({"metric": "train_loss", "mode": "max", "patience": 1}, "weights"),  # stops after epoch 2
    "ema": ({"decay": 0.9}, "weights"),
    "grad_clip": ({"max_norm": 0.1}, "weights"),
    "l1": ({"strength": 1e-3}, "weights"),
    "l2": ({"strength": 1e-2}, "weights"),
    "label_smoothing": ({"alpha": 0.2}, "weights"),
    "mixup": ({"alpha": 0.4}, "weights"),
    "swa": ({"start_epoch": 2}, "weights"),
    "tta": ({}, "metrics"),
}
EPOCHS = 3
TOLERANCE = 1e-3  # a speed trick may round differently (another kernel, another summation order)


def spec_with(tricks: list[dict[str, Any]]):
    return make_spec(model={"name": "guide_cnn", "hidden": 32, "pooled_size": 4}, tricks=tricks,
                     training={"epochs": EPOCHS, "batch_size": 512})  # 3 steps per epoch


@pytest.fixture(scope="module")
def data():
    spec = spec_with([])
    return prepare_data(spec.data, spec.data.split_seed)


@pytest.fixture(scope="module")
def baseline(data):
    result, reporter = run_fit(spec_with([]), data)
    return weights(result.model), reporter.records


def test_every_trick_has_test_settings() -> None:
    assert sorted(SETTINGS) == TRICKS.names(), "add settings for each new trick to SETTINGS"


@pytest.mark.parametrize("name", TRICKS.names())
def test_trick_trains_resumes_exactly_and_has_its_effect(name: str, data, baseline, tmp_path: Path) -> None:
    if name not in SETTINGS:
        pytest.fail(f"trick '{name}' has no settings in SETTINGS")
    params, effect = SETTINGS[name]
    spec = spec_with([{"name": name, **params}])
    straight, reporter = run_fit(spec, data, reporter=Recorder(tmp_path))
    for record in reporter.records:
        assert all(math.isfinite(value) for value in record.metrics.values()), record
    resumed, _ = run_fit(spec, data, resume=load_checkpoint(tmp_path / "epoch1"))
    assert [r.epoch for r in resumed.history] == [r.epoch for r in straight.history]
    assert [r.metrics["val_loss"] for r in resumed.history] == [r.metrics["val_loss"] for r in straight.history]
    assert_same(weights(straight.model), weights(resumed.model))

    base_weights, base_records = baseline
    weight_change = max((a - b).abs().max().item() for a, b in zip(base_weights, weights(straight.model)))
    val_change = abs(base_records[-1].metrics["val_loss"] - reporter.records[-1].metrics["val_loss"])
    changed = (weight_change > TOLERANCE, val_change > TOLERANCE)
    assert changed == {"weights": (True, True), "metrics": (False, True), "nothing": (False, False)}[effect], \
        (weight_change, val_change)
