"""The grad_clip trick is training.grad_clip_norm by name: the same hook, the same trained weights."""

from __future__ import annotations

from tests.conftest import make_spec
from tests.engine.test_loop import Spy
from tests.tricks.common import assert_same, run_fit, trick_hook, weights
from trainworks.tricks.basic import ClipGradNorm


def test_the_trick_reuses_the_clipping_hook() -> None:
    hook = trick_hook("grad_clip", max_norm=0.5)
    assert type(hook) is ClipGradNorm and hook.max_norm == 0.5


def test_the_trick_bounds_the_gradient_exactly_as_the_training_setting_does() -> None:
    spy = Spy()
    by_name, _ = run_fit(make_spec(tricks=[{"name": "grad_clip", "max_norm": 0.05}], training={"epochs": 1}),
                         after=[spy])
    by_setting, _ = run_fit(make_spec(training={"epochs": 1, "grad_clip_norm": 0.05}))
    assert max(spy.norms) <= 0.05 + 1e-6
    assert_same(weights(by_setting.model), weights(by_name.model))
