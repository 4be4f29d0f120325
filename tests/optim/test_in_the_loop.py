"""Every optimiser and schedule trains digits through the real loop; resumed runs equal uninterrupted ones;
L-BFGS, stepped through its closure by the loop, solves least squares."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.conftest import make_spec
from tests.engine.test_loop import Recorder, train
from trainworks.data.prepare import prepare_data
from trainworks.engine.assemble import build_parts, loop_settings
from trainworks.engine.checkpoint import load_checkpoint
from trainworks.engine.distributed import SingleProcess
from trainworks.engine.loop import fit
from trainworks.optim import OPTIMIZERS, SCHEDULES

# One case per registered entry: a registered name without a case fails below.
OPTIMIZER_CASES: dict[str, dict] = {
    "sgd": {"lr": 0.5},
    "momentum": {"lr": 0.05},
    "nesterov": {"lr": 0.05},
    "adagrad": {"lr": 0.05},
    "rmsprop": {"lr": 0.003},
    "adam": {"lr": 0.01},
    "adamw": {"lr": 0.01, "weight_decay": 0.05},
    "radam": {"lr": 0.02},
    "adabound": {"lr": 0.01, "final_lr": 0.1},
    "lookahead": {"k": 5, "alpha": 0.5, "base": {"name": "adam", "lr": 0.01}},
    "lbfgs": {"lr": 0.5, "max_iter": 3},
}
SCHEDULE_CASES: dict[str, dict] = {
    "constant": {},
    "step": {"step_size": 1, "gamma": 0.5},
    "multistep": {"milestones": [1], "gamma": 0.5},
    "exponential": {"gamma": 0.5},
    "cosine": {"eta_min": 0.001},
    "onecycle": {"pct_start": 0.3},
    "plateau": {"patience": 0, "threshold": 0.5, "factor": 0.5},
    "warmup": {"steps": 10, "then": {"name": "cosine"}},
}
EPOCHS = 2


def learns(records) -> None:
    """Well above chance (0.1) on digits, and the training loss fell."""
    assert records[-1].metrics["val_accuracy"] > 0.75, records[-1].metrics
    first, last = records[0].metrics["train_loss"], records[-1].metrics["train_loss"]
    assert last < first or first < 0.5


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_trains_digits_through_the_loop(name: str) -> None:
    assert name in OPTIMIZER_CASES, f"optimizer '{name}' has no case in OPTIMIZER_CASES"
    spec = make_spec(optimizer={"name": name, **OPTIMIZER_CASES[name]}, training={"epochs": EPOCHS})
    _, reporter = train(spec)
    learns(reporter.records)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_trains_digits_through_the_loop_and_moves_the_rate(name: str) -> None:
    assert name in SCHEDULE_CASES, f"schedule '{name}' has no case in SCHEDULE_CASES"
    spec = make_spec(schedule={"name": name, **SCHEDULE_CASES[name]}, training={"epochs": EPOCHS})
    _, reporter = train(spec)
    learns(reporter.records)
    rates = [record.metrics["lr"] for record in reporter.records]
    assert (rates == [0.01] * EPOCHS) == (name in {"constant", "plateau"}), rates  # plateau: val_loss kept improving


RESUMED = {
    "adamw+warmup": {"optimizer": {"name": "adamw", "lr": 0.01},
                     "schedule": {"name": "warmup", "steps": 30, "then": {"name": "cosine"}}},
    "plateau": {"schedule": {"name": "plateau", "patience": 0, "threshold": 0.5, "factor": 0.5}},
    "lookahead+onecycle": {"optimizer": {"name": "lookahead", "k": 7, "base": {"name": "adam", "lr": 0.01}},
                           "schedule": "onecycle"},
    "adabound+exponential": {"optimizer": {"name": "adabound", "lr": 0.01}, "schedule": {"name": "exponential"}},
}


@pytest.mark.parametrize("case", RESUMED)
def test_resumed_run_equals_an_uninterrupted_one(case: str, tmp_path: Path) -> None:
    spec = make_spec(**RESUMED[case], model={"name": "mlp", "hidden": [32], "dropout": 0.2}, training={"epochs": 4})
    straight, straight_report = train(spec)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(spec, Recorder(tmp_path, fail_after=2))
    resumed, _ = train(spec, Recorder(), resume=load_checkpoint(tmp_path / "epoch2"))
    assert [r.metrics["lr"] for r in resumed.history] == [r.metrics["lr"] for r in straight_report.records]
    assert len({r.metrics["lr"] for r in resumed.history}) > 1  # the schedule did act in this run
    for expected, actual in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(expected, actual)


def least_squares_table(path: Path) -> Path:
    """y = 1.5 a - 2 b + 0.5 c + 0.3 + noise, 200 rows."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    y = x @ torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64) + 0.3 + 0.1 * torch.randn(200, generator=generator,
                                                                                          dtype=torch.float64)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "y"])
        writer.writerows([*row, target] for row, target in zip(x.tolist(), y.tolist()))
    return path


def test_lbfgs_in_the_loop_reaches_the_closed_form_least_squares_solution(tmp_path: Path) -> None:
    table = least_squares_table(tmp_path / "linear.csv")
    spec = make_spec(data={"dataset": {"name": "table", "path": str(table), "target": "y", "task": "regression"}},
                     model={"name": "mlp", "hidden": []}, optimizer={"name": "lbfgs", "max_iter": 50}, loss="mse",
                     training={"epochs": 2, "batch_size": 256})
    result, reporter = train(spec)
    data = prepare_data(spec.data, spec.data.split_seed)
    x = data.train.x.double()
    design = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(design, data.train.y.double().reshape(len(x), 1)).solution.flatten()
    linear = result.model[-1]
    fitted = torch.cat([linear.weight.detach().flatten(), linear.bias.detach()]).double()
    assert torch.allclose(fitted, solution, atol=1e-4), (fitted, solution)
    assert reporter.records[-1].metrics["val_rmse"] < 0.15  # the noise is 0.1


def test_lbfgs_with_gradient_accumulation_sees_the_whole_batch(tmp_path: Path) -> None:
    table = least_squares_table(tmp_path / "linear.csv")
    weights = []
    for accumulation in (1, 4):
        spec = make_spec(data={"dataset": {"name": "table", "path": str(table), "target": "y", "task": "regression"}},
                         model={"name": "mlp", "hidden": []}, optimizer={"name": "lbfgs", "max_iter": 3}, loss="mse",
                         training={"epochs": 1, "batch_size": 256, "grad_accumulation": accumulation})
        result, _ = train(spec)
        weights.append(torch.cat([p.detach().flatten() for p in result.model.parameters()]))
    assert torch.allclose(weights[0], weights[1], atol=1e-5)


@pytest.mark.parametrize("name", ["lookahead", "adabound"])
def test_custom_optimizers_work_under_fp16_loss_scaling(name: str) -> None:
    """The loop's GradScaler unscales, checks and steps them (CPU fp16 autocast stands in for a GPU here)."""
    spec = make_spec(optimizer={"name": name, **OPTIMIZER_CASES[name]}, training={"epochs": EPOCHS})
    parts = build_parts(spec, prepare_data(spec.data, spec.data.split_seed), torch.device("cpu"))
    reporter = Recorder()
    fit(parts, replace(loop_settings(spec), precision="fp16"), SingleProcess(), reporter)
    learns(reporter.records)
