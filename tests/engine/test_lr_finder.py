"""The learning-rate range test: its pure parts, a run on digits, and the `trainworks lr-find` command."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import DIGITS_MLP, make_spec
from trainworks.data.prepare import prepare_data
from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.lr_finder import (diverged, exponential_rates, range_test, range_test_png, smooth_losses,
                                         suggest_rate)

CPU = torch.device("cpu")


def test_rates_grow_by_a_constant_factor_from_start_to_end() -> None:
    rates = exponential_rates(1e-6, 1.0, 7)
    assert rates[0] == 1e-6 and rates[-1] == pytest.approx(1.0)
    assert [b / a for a, b in zip(rates, rates[1:])] == pytest.approx([10.0] * 6)
    with pytest.raises(ValueError, match="0 < start < end"):
        exponential_rates(1.0, 1e-3, 10)


def test_smoothing_is_a_bias_corrected_moving_average() -> None:
    assert smooth_losses([3.0] * 5, beta=0.9) == pytest.approx([3.0] * 5)  # no pull towards 0 at the start
    assert smooth_losses([1.0, 2.0], beta=0.5) == pytest.approx([1.0, (0.25 + 1.0) / 0.75])


def test_divergence_is_four_times_the_best_or_not_finite() -> None:
    assert not diverged(3.9, 1.0) and diverged(4.1, 1.0)
    assert diverged(math.nan, 1.0) and diverged(math.inf, 1.0)


def test_suggestion_is_a_tenth_of_the_minimum_and_steepest_descent_comes_before_it() -> None:
    rates = exponential_rates(1e-5, 1.0, 51)
    # a valley in log10(rate) with its bottom at 1e-2 and its steepest fall around 1e-3
    losses = [2.0 - math.tanh(3 * (math.log10(r) + 3)) + (5 * (math.log10(r) + 2) ** 2 if r > 1e-2 else 0.0)
              for r in rates]
    suggestion = suggest_rate(rates, losses)
    assert suggestion.minimum_rate == pytest.approx(1e-2) and suggestion.rate == pytest.approx(1e-3)
    assert suggestion.steepest_rate == pytest.approx(10 ** -3.1, rel=0.3) and suggestion.loss_fell
    assert not suggest_rate(rates[:5], [1.0, 1.1, 1.2, 1.3, 1.4]).loss_fell


def test_range_test_on_digits_suggests_a_sensible_rate_and_restores_the_model() -> None:
    spec = make_spec(optimizer={"name": "adam", "lr": 0.01})
    parts = build_parts(spec, prepare_data(spec.data, spec.data.split_seed), CPU)
    before = {key: value.clone() for key, value in parts.model.state_dict().items()}
    result = range_test(parts, loop_settings(spec), exponential_rates(1e-6, 10.0, 80), CPU)
    assert result.stopped_early and len(result.rates) < 80  # Adam at lr 10 diverges
    assert min(result.smoothed) < 0.7 * result.smoothed[0]
    assert 1e-3 <= result.suggestion.rate <= 1e-1, result.suggestion
    assert all(torch.equal(before[key], value) for key, value in parts.model.state_dict().items())
    assert parts.optimizer.state_dict()["state"] == {}  # Adam's moments from the test are gone too
    assert range_test_png(result, "digits").startswith(b"\x89PNG\r\n\x1a\n")


def test_range_test_refuses_lbfgs() -> None:
    spec = make_spec(optimizer={"name": "lbfgs"})
    parts = build_parts(spec, prepare_data(spec.data, spec.data.split_seed), CPU)
    with pytest.raises(ValueError, match="optimizer.name: L-BFGS sets its own step length"):
        range_test(parts, loop_settings(spec), exponential_rates(1e-6, 1.0, 10), CPU)


def test_lr_find_command_prints_a_suggestion_and_writes_the_plot(tmp_path: Path) -> None:
    job = tmp_path / "digits.yaml"
    job.write_text(yaml.safe_dump(DIGITS_MLP))
    result = subprocess.run([sys.executable, "-m", "trainworks.cli", "lr-find", str(job), "--start", "1e-5",
                             "--steps", "60", "--out", "curve.png"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    line = next(text for text in result.stdout.splitlines() if text.startswith("suggested lr: "))
    assert 1e-3 <= float(line.split()[2]) <= 1e-1, result.stdout
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
