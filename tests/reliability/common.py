"""Small jobs and helpers the fault-injection tests share."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from typing import Any

from rich.console import Console

from tests.conftest import JOBS
from trainworks.runtime.console import Terminal

# Penguins' body mass in grams, unscaled: plain SGD's first steps overshoot until the loss is infinite (step 5).
DIVERGING: dict[str, Any] = {
    "name": "test-diverging",
    "data": {"dataset": {"name": "table", "path": str(JOBS / "data" / "penguins.csv"), "target": "body_mass_g",
                         "features": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"], "task": "regression"},
             "preprocessing": [{"name": "impute", "strategy": "median"}, {"name": "standardize"}]},
    "model": {"name": "mlp", "hidden": [16]},
    "loss": "mse",
    "optimizer": {"name": "sgd", "lr": 0.01},
    "training": {"epochs": 3, "batch_size": 32, "seed": 0},
    "tracking": {"experiment": "tests-divergence", "log_model": False},
}
DIVERGED_AT = (1, 5)  # (epoch, step) where DIVERGING's loss first is not finite


class Recording(Terminal):
    """A terminal that keeps what it printed, warnings apart."""

    def __init__(self) -> None:
        super().__init__(Console(file=io.StringIO()))
        self.warnings: list[str] = []

    def warn(self, text: str) -> None:
        self.warnings.append(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metric_steps(client: Any, run_id: str, metric: str) -> list[int]:
    """Every logged step of a metric, duplicates kept (so 'exactly once' can be checked)."""
    return sorted(point.step for point in client.get_metric_history(run_id, metric))


def job_file(folder: Path, text: str) -> Path:
    path = folder / "job.yaml"
    path.write_text(text)
    return path
