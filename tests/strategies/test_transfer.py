"""Transfer learning: weights from the MLflow registry, a new head, a frozen then slower backbone."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_spec
from tests.runtime.test_job_inline import inline, quiet
from trainworks.runtime.job import run_job
from trainworks.spec import SpecError
from trainworks.strategies.weights import head_prefix, load_all_but_head

SMALL_CNN = {"name": "guide_cnn", "hidden": 64, "pooled_size": 2}


def digits(labels: list[int], val_fraction: float, epochs: int, **sections) -> dict:
    return {"name": "transfer-digits", "data": {"dataset": {"name": "digits", "labels": labels},
                                                 "val_fraction": val_fraction},
            "model": SMALL_CNN, "optimizer": {"name": "adam", "lr": 0.003},
            "training": {"epochs": epochs, "batch_size": 32}, "tracking": {"experiment": "tests", "log_model": False},
            **sections}


def test_fine_tuning_a_registered_model_beats_training_from_scratch(tracker) -> None:
    pretrain = make_spec(digits([0, 1, 2, 3, 4], 0.2, 15), tracking={"log_model": True,
                                                                      "registered_model": "digits-0-4"})
    base = run_job(pretrain, inline(), tracker, quiet())
    assert base.metrics["val_accuracy"] > 0.95
    tracker.client.set_registered_model_alias("digits-0-4", "base", base.model_version)

    few = dict(labels=[5, 6, 7, 8, 9], val_fraction=0.9, epochs=2)  # 10% of digits 5-9 train: ~90 images
    transfer = {"name": "transfer", "source": "models:/digits-0-4@base", "freeze_backbone_epochs": 0}
    accuracy = {}
    for seed in (0, 1):
        for name, strategy in (("scratch", {"name": "standard"}), ("tuned", transfer)):
            spec = make_spec(digits(**few, strategy=strategy), training={"seed": seed, "batch_size": 8})
            accuracy[name, seed] = run_job(spec, inline(), tracker, quiet()).metrics["val_accuracy"]
    for seed in (0, 1):
        assert accuracy["tuned", seed] > accuracy["scratch", seed] + 0.03, accuracy


def test_weights_load_into_everything_but_a_new_head(tmp_path) -> None:
    from trainworks.engine.assemble import build_model
    from trainworks.runtime.job import prepare_job_data

    five = make_spec(digits([0, 1, 2, 3, 4], 0.2, 1))
    three = make_spec(digits([5, 6, 7], 0.2, 1), training={"seed": 1})
    source, target = build_model(five, prepare_job_data(five)), build_model(three, prepare_job_data(three))
    fresh_head = target.classifier[-1].weight.clone()
    head = load_all_but_head(target, source.state_dict())
    assert head_prefix(target) == "classifier.3" and head == ["classifier.3.weight", "classifier.3.bias"]
    assert torch.equal(target.features[0].weight, source.features[0].weight)
    assert torch.equal(target.classifier[-1].weight, fresh_head) and fresh_head.shape[0] == 3
    with pytest.raises(ValueError, match="other shape: classifier.1.weight"):
        load_all_but_head(target, {**source.state_dict(), "classifier.1.weight": torch.zeros(1, 1)})


def test_backbone_frozen_first_then_trained_at_a_smaller_learning_rate(tmp_path) -> None:
    from trainworks.engine.distributed import SingleProcess
    from trainworks.engine.families import family_of
    from trainworks.engine.hooks import Hook
    from trainworks.runtime.job import prepare_job_data

    five = make_spec(digits([0, 1, 2, 3, 4], 0.2, 1))
    torch.save(build_model_of(five).state_dict(), tmp_path / "base.pt")
    strategy = {"name": "transfer", "source": str(tmp_path / "base.pt"), "freeze_backbone_epochs": 1,
                "backbone_lr_scale": 0.1}
    spec = make_spec(digits([5, 6, 7], 0.5, 2, strategy=strategy))

    class Watch(Hook):
        """The first conv layer after each epoch, and the learning rates of the optimiser's groups."""

        def __init__(self) -> None:
            self.conv: list[torch.Tensor] = []
            self.lrs: list[float] = []

        def on_fit_start(self, model, optimizer) -> None:
            self.model, self.lrs = model, sorted({group["lr"] for group in optimizer.param_groups})
            self.conv.append(model.features[0].weight.detach().clone())

        def on_validation_end(self, epoch, metrics) -> bool:
            self.conv.append(self.model.features[0].weight.detach().clone())
            return False

    class Nothing:
        def epoch_end(self, record, save) -> None:
            pass

        def fit_end(self, save) -> None:
            pass

    watch = Watch()
    family_of(spec).train(spec, prepare_job_data(spec), SingleProcess(), Nothing(), None, [watch])
    loaded, after_frozen, after_unfrozen = watch.conv
    assert torch.equal(loaded, torch.load(tmp_path / "base.pt", weights_only=True)["features.0.weight"])
    assert torch.equal(after_frozen, loaded) and not torch.equal(after_unfrozen, loaded)
    assert watch.lrs == pytest.approx([0.0003, 0.003])


def build_model_of(spec):
    from trainworks.engine.assemble import build_model
    from trainworks.runtime.job import prepare_job_data

    return build_model(spec, prepare_job_data(spec))


def test_a_state_dict_file_is_read_with_weights_only(tmp_path) -> None:
    """A file that pickles code is refused (weights_only=True), a plain state_dict loads."""
    from trainworks.strategies.weights import load_state_dict

    plain, hostile = tmp_path / "plain.pt", tmp_path / "hostile.pt"
    torch.save({"w": torch.ones(2)}, plain)
    torch.save({"w": torch.ones(2), "code": print}, hostile)
    assert torch.equal(load_state_dict(str(plain))["w"], torch.ones(2))
    with pytest.raises(Exception, match="[Ww]eights only"):
        load_state_dict(str(hostile))


def test_a_missing_weights_file_fails_at_load_time() -> None:
    with pytest.raises(SpecError, match="strategy.source.*file not found"):
        make_spec(digits([5, 6], 0.5, 1, strategy={"name": "transfer", "source": "no-such-weights.pt"}))
