"""Every registered model trains through its family's real loop on tiny data (registry-driven).

A model without an entry in SETTINGS fails here, so a new model is tested the moment it is
registered (the habit of timm's test_models.py and Composer's algorithm settings).
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import DIGITS_MLP, make_spec
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.families import family_of
from trainworks.engine.loop import EpochRecord
from trainworks.models import MODELS
from trainworks.runtime.job import prepare_job_data

TWO_DIGITS = {"dataset": {"name": "digits", "labels": [0, 1]}}  # tiny: about 290 training images
DIGITS_16 = {**TWO_DIGITS, "preprocessing": [{"name": "resize", "size": 16},
                                             {"name": "normalize", "mean": [0.5], "std": [0.5]}]}
CARTPOLE = {"dataset": {"name": "gym", "env": "CartPole-v1", "episodes_per_epoch": 4, "max_steps": 50,
                        "eval_episodes": 2}}

SETTINGS: dict[str, dict] = {
    "mlp": {},
    "guide_cnn": {},
    "resnet18": {"data": {**TWO_DIGITS, "val_fraction": 0.8}},  # 11M parameters: train on 72 images only
    "lstm": {},
    "gru": {"model": {"name": "gru", "bidirectional": True, "layers": 2}},
    "transformer": {"model": {"name": "transformer", "d_model": 16, "heads": 2, "layers": 1, "feedforward": 32}},
    "autoencoder": {"loss": "mse"},
    "vae": {"loss": "vae"},
    "dcgan": {"data": DIGITS_16, "loss": "gan_bce", "model": {"name": "dcgan", "latent": 8, "width": 8}},
    "policy_mlp": {"data": CARTPOLE, "loss": "policy_gradient", "training": {"epochs": 1, "batch_size": 2}},
}


class Recorder:
    """A Reporter keeping the epochs and the last checkpoint's state."""

    def __init__(self) -> None:
        self.records: list[EpochRecord] = []
        self.saves = 0

    def epoch_end(self, record: EpochRecord, save) -> None:
        self.records.append(record)
        self.saves += 1

    def fit_end(self, save) -> None:
        self.saves += 1


def spec_for(name: str):
    settings = {"data": TWO_DIGITS, "model": {"name": name}, "training": {"epochs": 1, "batch_size": 32},
                **SETTINGS[name]}
    return make_spec(DIGITS_MLP, **settings)


def test_every_model_has_settings() -> None:
    assert sorted(SETTINGS) == MODELS.names(), "add the new model to SETTINGS"


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_trains_an_epoch_through_its_family_loop(name: str) -> None:
    spec = spec_for(name)
    data = prepare_job_data(spec)
    reporter = Recorder()
    family = family_of(spec)
    family.train(spec, data, SingleProcess(), reporter, None, ())
    assert [record.epoch for record in reporter.records] == [1] and reporter.saves >= 1
    metrics = reporter.records[0].metrics
    assert metrics and all(torch.isfinite(torch.tensor(value)) for value in metrics.values()), metrics
