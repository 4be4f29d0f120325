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


@pytest.mark.parametrize("name", ["lstm", "gru", "transformer"])
def test_sequence_models_read_images_by_rows_and_sequences_as_given(name: str) -> None:
    images = build(name, DataInfo("classification", "image", (1, 8, 8), 10))
    assert images(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    series = build(name, DataInfo("regression", "sequence", (52, 6), 2))
    assert series(torch.randn(3, 52, 6)).shape == (3, 2)


def test_lstm_prediction_depends_on_the_order_of_steps() -> None:
    model = build("lstm", DataInfo("regression", "sequence", (5, 1), 1))
    sequence = torch.arange(5.0).view(1, 5, 1)
    assert not torch.allclose(model(sequence), model(sequence.flip(1)))


def test_vae_samples_and_reconstructs_deterministically_in_eval() -> None:
    vae = build("vae", DataInfo("reconstruction", "image", (1, 8, 8), 10), latent=4)
    x = torch.randn(2, 1, 8, 8)
    reconstruction, mu, logvar = vae.eval()(x)
    assert reconstruction.shape == x.shape and mu.shape == logvar.shape == (2, 4)
    assert torch.equal(vae(x)[0], reconstruction)
    assert vae.sample(3).shape == (3, 1, 8, 8)


def test_dcgan_generates_images_of_the_data_shape_and_scores_them() -> None:
    gan = build("dcgan", DataInfo("generation", "image", (1, 16, 16), 10), latent=8, width=8)
    images = gan.eval()(torch.randn(4, 8))
    assert images.shape == (4, 1, 16, 16) and images.abs().max() <= 1
    assert gan.discriminator(images).shape == (4,)
    with pytest.raises(ValueError, match="divisible by 4"):
        build("dcgan", DataInfo("generation", "image", (1, 10, 10), 10))
