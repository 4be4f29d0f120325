"""Bad optimiser and schedule settings fail when the job file loads, at the path to fix."""

from __future__ import annotations

import pytest

from tests.conftest import make_spec
from trainworks.spec import SpecError

REFUSED = [
    ({"optimizer": {"name": "lbfgs"}, "scaling": {"num_workers": 2}},
     "scaling.num_workers: optimizer lbfgs runs on one worker only"),
    ({"optimizer": {"name": "lbfgs"}, "training": {"precision": "fp16"}, "scaling": {"use_gpu": True}},
     "training.precision: optimizer lbfgs steps through a closure, which fp16 loss scaling cannot wrap"),
    ({"optimizer": {"name": "lookahead", "base": {"name": "lbfgs"}}}, "optimizer: lookahead cannot wrap lbfgs"),
    ({"optimizer": {"name": "lookahead", "base": {"name": "adamm"}}},
     "optimizer.base.name: unknown optimizer 'adamm' (did you mean 'adam'?)"),
    ({"optimizer": {"name": "lookahead", "base": {"name": "adam", "lr": 0}}},
     "optimizer.base.lr: expected a value greater than 0"),
    ({"optimizer": {"name": "sgd", "nesterov": True}}, "optimizer: nesterov needs momentum > 0"),
    ({"optimizer": {"name": "adamw", "decay_biases": True}}, "optimizer.decay_biases: unknown key 'decay_biases' "
                                                             "(did you mean 'decay_biases_and_norms'?)"),
    ({"schedule": {"name": "warmup", "steps": 10, "then": {"name": "cosin"}}},
     "schedule.then.name: unknown schedule 'cosin' (did you mean 'cosine'?)"),
    ({"schedule": {"name": "warmup", "then": "cosine"}}, "schedule: give the warm-up's length as steps or as epochs"),
    ({"schedule": {"name": "multistep", "milestones": [30, 10]}}, "schedule.milestones: milestones must increase"),
    ({"schedule": {"name": "plateau", "metric": "val_accuracy"}}, "schedule: val_accuracy improves upwards"),
    ({"schedule": {"name": "plateau", "metric": "accuracy"}}, "schedule.metric: expected 'val_loss', 'val_accuracy'"),
    ({"schedule": {"name": "onecycle", "pct_start": 1.5}}, "schedule.pct_start: expected a value less than 1"),
]


@pytest.mark.parametrize(("change", "expected"), REFUSED, ids=[case[1].split(":")[0] for case in REFUSED])
def test_refused_at_load_with_the_path(change: dict, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        make_spec(**change)
    assert any(issue.render().startswith(expected) for issue in caught.value.issues), str(caught.value)


def test_lbfgs_on_one_worker_with_accumulation_is_accepted() -> None:
    spec = make_spec(optimizer={"name": "lbfgs"}, training={"grad_accumulation": 4, "precision": "bf16"})
    assert spec.optimizer.name == "lbfgs"
