"""Every registered model builds and trains a step on tiny data of the shape it accepts."""

from __future__ import annotations

import pytest
import torch

from trainworks.data.types import DataInfo
from trainworks.models import MODELS

IMAGE = DataInfo("classification", "image", (3, 32, 32), 10)
TABLE = DataInfo("classification", "table", (9,), 3)


def build(name: str, info: DataInfo, **params) -> torch.nn.Module:
    entry = MODELS.get(name)
    return entry.build(entry.params(**params), info)


@pytest.mark.parametrize("entry", list(MODELS), ids=lambda e: e.name)
def test_every_model_takes_a_training_step(entry) -> None:
    info = IMAGE if "image" in entry.tags else TABLE
    model = build(entry.name, info)
    x, y = torch.randn(4, *info.input_shape), torch.randint(0, info.num_outputs, (4,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    assert model(x).shape == (4, info.num_outputs)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("size", [8, 32, 57, 224])
def test_guide_cnn_runs_at_any_input_size(size: int) -> None:
    model = build("guide_cnn", DataInfo("classification", "image", (3, size, size), 10))
    assert model(torch.randn(2, 3, size, size)).shape == (2, 10)


def test_guide_cnn_keeps_the_guides_fc1_at_pooled_size_14() -> None:
    model = build("guide_cnn", IMAGE, pooled_size=14)
    assert model.classifier[1].in_features == 12544 and model.classifier[1].out_features == 128


def test_resnet18_small_image_stem_keeps_resolution() -> None:
    model = build("resnet18", DataInfo("classification", "image", (1, 16, 16), 4))
    assert model.conv1.stride == (1, 1) and isinstance(model.maxpool, torch.nn.Identity)
    assert model.conv1.in_channels == 1 and model(torch.randn(2, 1, 16, 16)).shape == (2, 4)


def test_mlp_depth_width_activation_dropout_batchnorm() -> None:
    model = build("mlp", TABLE, hidden=[16, 8], activation="gelu", dropout=0.2, batch_norm=True)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "GELU", "Dropout", "Linear", "BatchNorm1d", "GELU",
                     "Dropout", "Linear"]
