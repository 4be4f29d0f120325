"""Schedules give the rates their formulas say, and a restored schedule continues exactly."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from tests.optim.helpers import build_schedule, epoch_rates
from trainworks.optim import SCHEDULES
from trainworks.optim.warmup import warmup_factor


def test_constant_keeps_the_rate() -> None:
    assert epoch_rates(*build_schedule("constant"), epochs=5) == [1.0] * 5


def test_step_schedule_drops_once_at_step_size_not_every_epoch_after() -> None:
    seen = epoch_rates(*build_schedule("step", step_size=30, gamma=0.1), epochs=50)
    assert seen[:30] == [1.0] * 30 and all(math.isclose(r, 0.1) for r in seen[30:50])


def test_multistep_drops_at_the_milestones_only() -> None:
    seen = epoch_rates(*build_schedule("multistep", milestones=[2, 5], gamma=0.5), epochs=8)
    assert seen == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])


def test_multistep_milestones_must_increase() -> None:
    with pytest.raises(ValidationError, match="milestones must increase"):
        build_schedule("multistep", milestones=[5, 2])


def test_exponential_gives_lr_times_gamma_to_the_epoch() -> None:
    seen = epoch_rates(*build_schedule("exponential", lr=0.5, gamma=0.9), epochs=12, steps_per_epoch=3)
    assert seen == pytest.approx([0.5 * 0.9 ** (step // 3) for step in range(36)])


def test_cosine_anneals_over_all_steps_to_eta_min() -> None:
    seen = epoch_rates(*build_schedule("cosine", plan=(2, 5), eta_min=0.1), epochs=2, steps_per_epoch=5)
    assert seen[0] == 1.0 and math.isclose(seen[5], 0.55)
    assert seen == pytest.approx([0.1 + 0.45 * (1 + math.cos(math.pi * t / 10)) for t in range(10)])


def test_warmup_is_linear_then_hands_over_to_the_next_schedule() -> None:
    epochs, per_epoch = 2, 6
    warm = epoch_rates(*build_schedule("warmup", plan=(epochs, per_epoch), lr=0.8, steps=4,
                                       then={"name": "cosine"}), epochs, per_epoch)
    assert warm[:4] == pytest.approx([0.0, 0.2, 0.4, 0.6])  # 0.8 * t / 4
    alone = epoch_rates(*build_schedule("cosine", plan=(1, 8), lr=0.8), 1, 8)
    assert warm[4:] == pytest.approx(alone)  # cosine over the 8 steps left, from its own start


def test_warmup_in_epochs_hands_over_to_an_epoch_schedule_counting_from_there() -> None:
    warm = epoch_rates(*build_schedule("warmup", epochs=3, start_factor=0.5, then={"name": "step", "step_size": 2}),
                       epochs=7)
    # three warm-up epochs from 0.5 towards 1; step decay's own epochs 0-1 at 1.0, then 2-3 at 0.1
    assert warm == pytest.approx([0.5, 0.5 + 0.5 / 3, 0.5 + 1 / 3, 1.0, 1.0, 0.1, 0.1])


def test_warmup_factor_and_length_checks() -> None:
    assert [warmup_factor(t, 4, 0.2) for t in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])
    with pytest.raises(ValidationError, match="steps or as epochs"):
        build_schedule("warmup", steps=3, epochs=1)


def test_onecycle_peaks_where_configured() -> None:
    seen = epoch_rates(*build_schedule("onecycle", plan=(4, 10), max_lr=2.0, pct_start=0.25,
                                       div_factor=10, final_div_factor=100), epochs=4, steps_per_epoch=10)
    assert seen.index(max(seen)) == 9 and seen[9] == pytest.approx(2.0)  # step 0.25 * 40 - 1
    assert seen[0] == pytest.approx(0.2) and seen[-1] == pytest.approx(0.2 / 100, rel=0.05)
    assert all(a < b for a, b in zip(seen[:9], seen[1:10])) and all(a > b for a, b in zip(seen[9:], seen[10:]))


def test_onecycle_cycles_adam_beta1_against_the_rate() -> None:
    optimizer, schedule = build_schedule("onecycle", plan=(1, 10), optimizer_name="adam", lr=0.01)
    betas = []
    for _ in range(10):
        betas.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        schedule.step_end()
    assert betas[0] == pytest.approx(0.95) and min(betas) == pytest.approx(0.85, abs=0.01)


def plateau_rates(losses: list[float], **params) -> list[float]:
    optimizer, schedule = build_schedule("plateau", **params)
    return epoch_rates(optimizer, schedule, len(losses), metrics=[{"val_loss": v, "val_accuracy": -v} for v in losses])


def test_plateau_reduces_after_patience_epochs_without_improvement() -> None:
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    # best 0.9 at epoch 2; epochs 3 and 4 are tolerated (patience 2); epoch 5 is the third bad one
    seen = plateau_rates(losses, patience=2, factor=0.5)
    assert seen == pytest.approx([1.0] * 5 + [0.5] * 3 + [0.25])


def test_plateau_watches_the_named_metric_in_its_direction() -> None:
    losses = [1.0, 0.9, 0.95, 0.95, 0.95]  # val_accuracy = -loss: rises, then falls
    assert plateau_rates(losses, metric="val_accuracy", mode="max", patience=1, factor=0.5) == pytest.approx(
        [1.0, 1.0, 1.0, 1.0, 0.5])
    with pytest.raises(ValidationError, match="set mode: max"):
        build_schedule("plateau", metric="val_accuracy")
    optimizer, schedule = build_schedule("plateau", metric="val_rmse")
    with pytest.raises(KeyError, match="records no 'val_rmse'; it records val_accuracy, val_loss"):
        schedule.epoch_end({"val_loss": 1.0, "val_accuracy": 0.5})


RESUME_CASES = {
    "constant": {}, "step": {"step_size": 2}, "multistep": {"milestones": [1, 3]}, "exponential": {"gamma": 0.8},
    "cosine": {}, "onecycle": {}, "plateau": {"patience": 0, "threshold": 0.5},
    "warmup": {"steps": 5, "then": {"name": "plateau", "patience": 0, "threshold": 0.5}},
}


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_continues_exactly_from_its_state(name: str) -> None:
    assert name in RESUME_CASES, f"schedule '{name}' has no case in RESUME_CASES"
    build = lambda: build_schedule(name, plan=(4, 3), lr=0.5, optimizer_name="adam",  # noqa: E731
                                   **RESUME_CASES[name])
    metrics = [{"val_loss": 1.0 - 0.01 * e} for e in range(4)]
    straight = epoch_rates(*build(), epochs=4, steps_per_epoch=3, metrics=metrics)
    first_optimizer, first_schedule = build()
    first = epoch_rates(first_optimizer, first_schedule, 2, 3, metrics[:2])
    optimizer, schedule = build()
    optimizer.load_state_dict(first_optimizer.state_dict())
    schedule.load_state_dict(first_schedule.state_dict())
    assert first + epoch_rates(optimizer, schedule, 2, 3, metrics[2:]) == straight
    assert len(set(straight)) > 1 or name == "constant"
