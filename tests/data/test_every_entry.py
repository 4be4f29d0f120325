"""Every registered step and augmentation, from the registry: a new entry without an example here fails.

Each table step fits on tiny training data, its state survives JSON, re-applying that state gives the
same table, and data other than the training split never loses a row. Each augmentation keeps the
batch's shape and dtype on grey and colour images.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
import torch

from tests.data.steps import build
from trainworks.data.augment import AUGMENTATIONS
from trainworks.data.preprocess import PREPROCESSING
from trainworks.data.table_pipeline import fit_pipeline

TABLE_EXAMPLES: dict[str, dict[str, Any]] = {
    "drop_missing": {},
    "impute": {"strategy": "median"},
    "interpolate": {"method": "time"},
    "iqr_filter": {},
    "label_encode": {},
    "lags": {"columns": ["x"], "lags": [1, 2]},
    "minmax": {},
    "one_hot": {},
    "ordinal_encode": {"order": {"size": ["S", "M", "L"]}},
    "rolling": {"columns": ["x"], "windows": [2], "stats": ["mean", "max"]},
    "standardize": {},
    "time_since_previous": {"unit": "hours"},
    "timestamp_parts": {"cyclic": True},
    "winsorize": {"lower": 0.1, "upper": 0.9},
    "zscore_filter": {"k": 1.0},
}
IMAGE_EXAMPLES: dict[str, dict[str, Any]] = {"resize": {"size": [6, 4]}, "normalize": {}}
AUGMENTATION_EXAMPLES: dict[str, dict[str, Any]] = {
    "hflip": {}, "random_crop": {"padding": 2}, "rotation": {"degrees": 45}, "color_jitter": {"clip": (0.0, 1.0)},
}


def tiny_table(rows: int, offset: float = 0.0) -> pa.Table:
    times = [datetime(2024, 1, 1) + timedelta(hours=3 * i + offset) for i in range(rows)]
    return pa.table({
        "t": pa.array(times, pa.timestamp("s")),
        "x": [None if i % 5 == 1 else float(i * i) + offset for i in range(rows)],
        "size": [("S", "M", "L")[i % 3] for i in range(rows)],
        "y": [float(i % 2) for i in range(rows)],
    })


@pytest.mark.parametrize("name", PREPROCESSING.names())
def test_every_step_has_an_example(name: str) -> None:
    assert name in TABLE_EXAMPLES or name in IMAGE_EXAMPLES, f"step '{name}' has no example here (nor a test?)"


@pytest.mark.parametrize("name", sorted(TABLE_EXAMPLES))
def test_table_steps_reapply_their_json_state_and_keep_every_other_row(name: str) -> None:
    step = build(name, **TABLE_EXAMPLES[name])
    pipeline, train = fit_pipeline([step], tiny_table(12), keep_out=frozenset({"y"}))
    state = json.loads(json.dumps(pipeline.states[0]))
    assert state == pipeline.states[0]
    other = tiny_table(7, offset=0.5)
    once, again = step.apply(other, state), step.apply(other, state)
    assert once.equals(again) and once.num_rows == other.num_rows  # only the training split loses rows
    assert once.column("y").equals(other.column("y"))  # the target is no default column
    assert train.num_rows <= 12


@pytest.mark.parametrize("name", sorted(IMAGE_EXAMPLES))
def test_image_steps_reapply_their_json_state(name: str) -> None:
    step = build(name, **IMAGE_EXAMPLES[name])
    images = torch.rand(5, 3, 8, 8)
    state = json.loads(json.dumps(step.fit(images)))
    assert torch.equal(step.apply(images[:2], state), step.apply(images, state)[:2])


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_every_augmentation_keeps_shape_and_dtype(name: str, channels: int) -> None:
    assert name in AUGMENTATION_EXAMPLES, f"augmentation '{name}' has no example here (nor a test?)"
    entry = AUGMENTATIONS.get(name)
    images = torch.rand(8, channels, 10, 10)
    out = entry.build(entry.params(**AUGMENTATION_EXAMPLES[name]))(images)
    assert out.shape == images.shape and out.dtype == images.dtype and torch.isfinite(out).all()
