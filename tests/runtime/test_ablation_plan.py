"""Ablation plans and verdicts: which variants run, and when a difference beats the seed noise."""

from __future__ import annotations

import pytest

from tests.conftest import DIGITS_MLP, make_spec
from trainworks.runtime.ablation_plan import ALL_ON, summarise_variants, variant_of, variants
from trainworks.spec import SpecError

TRICKS = [{"name": "label_smoothing", "alpha": 0.1}, {"name": "mixup", "alpha": 0.2}, {"name": "ema", "decay": 0.9}]


def test_one_off_variants_switch_each_trick_off_alone_and_keep_the_order() -> None:
    plan = variants(["mixup", "ema"], factorial=False)
    assert [variant.label for variant in plan] == [ALL_ON, "without mixup", "without ema"]
    assert [trick["name"] for trick in plan[1].tricks(TRICKS)] == ["label_smoothing", "ema"]
    assert variant_of(plan[2].tricks(TRICKS), ["mixup", "ema"]) == plan[2]


def test_factorial_variants_cover_every_combination_once() -> None:
    plan = variants(["label_smoothing", "mixup", "ema"], factorial=True)
    assert len(plan) == 8 and len({variant.off for variant in plan}) == 8
    assert plan[-1].tricks(TRICKS) == [] and plan[-1].label == "without label_smoothing+mixup+ema"


def test_a_difference_inside_the_seed_noise_is_called_so() -> None:
    rows = {row.label: row for row in summarise_variants({
        ALL_ON: [0.95, 0.96, 0.97],
        "without mixup": [0.90, 0.91, 0.92],  # clearly worse without: mixup pays
        "without ema": [0.93, 0.97, 0.99],  # mean 0.963, spread too wide to tell
        "without label_smoothing": [0.99, 0.995, 1.0],  # clearly better without: it hurts
    }, mode="max")}
    assert rows[ALL_ON].verdict == "reference" and rows[ALL_ON].difference == 0
    assert rows["without mixup"].verdict == "pays" and rows["without mixup"].difference == pytest.approx(-0.05)
    assert rows["without mixup"].std == pytest.approx(0.01)
    assert rows["without ema"].verdict == "within noise"
    assert rows["without label_smoothing"].verdict == "hurts"


def test_for_a_loss_lower_is_better() -> None:
    rows = summarise_variants({ALL_ON: [0.2, 0.21], "without ema": [0.4, 0.41]}, mode="min")
    assert rows[1].verdict == "pays"


def test_the_ablation_names_only_tricks_the_job_has() -> None:
    with pytest.raises(SpecError, match=r"ablation.tricks\[1\]: 'mixp' is not among this job's tricks; "
                                        r"valid: label_smoothing, mixup"):
        make_spec(DIGITS_MLP, tricks=TRICKS[:2], ablation={"tricks": ["mixup", "mixp"]})
    with pytest.raises(SpecError, match=r"ablation.seeds: .*greater than or equal to 2"):
        make_spec(DIGITS_MLP, tricks=TRICKS[:2], ablation={"tricks": ["mixup"], "seeds": 1})
