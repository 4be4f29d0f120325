"""channels_last and compile change how steps run, not what they compute, nor the checkpoint's keys."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.conftest import make_spec
from tests.tricks.common import WeightLog, assert_same, run_fit, trick_hook, weights
from trainworks.engine.hooks import Hook
from trainworks.models.cnn import GuideCNN

CHANNELS_LAST = torch.channels_last


def guide_cnn() -> GuideCNN:
    torch.manual_seed(0)
    return GuideCNN(in_channels=1, num_classes=10, hidden=32, pooled_size=4)


def test_channels_last_converts_conv_weights_and_batches_and_keeps_the_outputs() -> None:
    model, images = guide_cnn(), torch.randn(5, 1, 8, 8)
    expected = model(images)
    hook = trick_hook("channels_last")
    hook.on_fit_start(model, torch.optim.SGD(model.parameters(), lr=0.1))
    conv2 = model.features[3].weight  # 64 x 32 x 3 x 3: NHWC and NCHW differ (a 1-channel kernel is both)
    assert conv2.is_contiguous(memory_format=CHANNELS_LAST) and not conv2.is_contiguous()
    x, _ = hook.on_train_batch(torch.randn(5, 3, 8, 8), torch.zeros(5))
    assert x.is_contiguous(memory_format=CHANNELS_LAST) and not x.is_contiguous()
    [view] = hook.eval_views(torch.randn(5, 3, 8, 8))
    assert view.is_contiguous(memory_format=CHANNELS_LAST)
    assert torch.allclose(model(hook.eval_views(images)[0]), expected, atol=1e-5)


class LayoutSpy(Hook):
    """Listed after the tricks: records whether batches and the convolution weights are channels_last.

    (A one-channel digits batch is NHWC and NCHW at once; the 32-channel conv2 kernel tells them apart.)
    """

    def __init__(self) -> None:
        self.channels_last: list[bool] = []
        self.model = None

    def on_fit_start(self, model, optimizer) -> None:
        self.model = model

    def on_train_batch(self, x, y):
        conv2 = self.model.features[3].weight
        self.channels_last.append(x.is_contiguous(memory_format=CHANNELS_LAST)
                                  and conv2.is_contiguous(memory_format=CHANNELS_LAST) and not conv2.is_contiguous())
        return x, y


def test_channels_last_through_the_loop_trains_on_nhwc_batches_and_ends_with_the_same_weights() -> None:
    spec = make_spec(model={"name": "guide_cnn", "hidden": 32, "pooled_size": 4},
                     data={"dataset": "digits", "preprocessing": [{"name": "resize", "size": 16}]},
                     training={"epochs": 1, "batch_size": 256})
    spy = LayoutSpy()
    plain, _ = run_fit(spec)
    nhwc, _ = run_fit(spec.model_copy(update={"tricks": [trick_for("channels_last")]}), after=[spy])
    assert spy.channels_last and all(spy.channels_last)
    assert_same(weights(plain.model), weights(nhwc.model), atol=1e-3)  # rounding of other kernels


def trick_for(name: str, **params):
    from trainworks.spec.components import entry_model
    from trainworks.tricks import TRICKS

    return entry_model(TRICKS.get(name))(name=name, **params)


def test_compile_keeps_state_dict_keys_and_outputs_and_checkpoints_load_into_a_plain_model() -> None:
    model, images = guide_cnn(), torch.randn(4, 1, 8, 8)
    keys, expected = list(model.state_dict()), model(images)
    trick_hook("compile", backend="aot_eager").on_fit_start(model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert model._compiled_call_impl is not None  # compiled in place
    assert list(model.state_dict()) == keys
    assert torch.allclose(model(images), expected, atol=1e-5)
    plain = guide_cnn()
    plain.load_state_dict(copy.deepcopy(model.state_dict()))
    assert torch.allclose(plain(images), expected, atol=1e-5)


def test_an_averaged_copy_of_a_compiled_model_runs_its_own_weights() -> None:
    model, images = guide_cnn(), torch.randn(4, 1, 8, 8)
    trick_hook("compile", backend="aot_eager").on_fit_start(model, torch.optim.SGD(model.parameters(), lr=0.1))
    ema = trick_hook("ema", decay=0.5, warmup=False)
    ema.on_step_end(model, 1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    averaged = ema.eval_model(model)
    assert not torch.allclose(averaged(images), model(images))


@pytest.mark.slow
def test_inductor_compiled_training_matches_eager_training() -> None:
    spec = make_spec(model={"name": "guide_cnn", "hidden": 32, "pooled_size": 4}, training={"epochs": 1,
                                                                                           "batch_size": 512})
    eager, _ = run_fit(spec)
    compiled, reporter = run_fit(spec.model_copy(update={"tricks": [trick_for("compile")]}), after=[WeightLog()])
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())
    assert_same(weights(eager.model), weights(compiled.model), atol=1e-3)
