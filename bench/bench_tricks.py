"""What tricks cost on the loop: training samples/s of the quick-start job with stacked tricks against none.

The digits CNN job (jobs/quickstart.yaml: digits resized to 32x32, the guide's CNN, batch 64,
Adam, cosine) runs in this process through the engine (build_parts + fit, one rank, no Ray,
no MLflow, no checkpoints written), once without tricks and once with the stack

  label_smoothing 0.1, mixup 0.2, l2 1e-4, ema 0.999, early_stopping (patience = epochs, so it never stops)

The variants alternate, `--repeats` times each, so drifting machine load hits both alike.
samples/s is the loop's own training throughput (validation excluded): the median over
epochs 2..N of a run; the table gives the median (min-max) over runs and the ratio
tricks / baseline. `--each` also times every trick of the stack alone.

Run:  python bench/bench_tricks.py [--epochs 4] [--repeats 3] [--threads 1] [--each]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from trainworks.data.prepare import prepare_data  # noqa: E402
from trainworks.engine.assemble import build_parts, loop_settings  # noqa: E402
from trainworks.engine.distributed import SingleProcess  # noqa: E402
from trainworks.engine.loop import EpochRecord, SaveFn, fit  # noqa: E402
from trainworks.spec import JobSpec, load_spec  # noqa: E402

JOB = ROOT / "jobs" / "quickstart.yaml"


def stack(epochs: int) -> list[dict]:
    """The stacked tricks, in an order the spec accepts (early stopping after the average it keeps)."""
    return [{"name": "label_smoothing", "alpha": 0.1}, {"name": "mixup", "alpha": 0.2},
            {"name": "l2", "strength": 1e-4}, {"name": "ema", "decay": 0.999},
            {"name": "early_stopping", "patience": epochs}]


def job(epochs: int, tricks: list[dict]) -> JobSpec:
    """The quick-start job for one rank, with these tricks (validated like a job file)."""
    overrides = [f"training.epochs={epochs}", "scaling.num_workers=1", "tracking.registered_model=null",
                 f"tricks={yaml.safe_dump(tricks, default_flow_style=True).strip()}"]
    return load_spec(JOB, overrides)


class Keep:
    """A Reporter that keeps each epoch's metrics and writes no checkpoint."""

    def __init__(self) -> None:
        self.records: list[EpochRecord] = []

    def epoch_end(self, record: EpochRecord, save: SaveFn) -> None:
        self.records.append(record)

    def fit_end(self, save: SaveFn) -> None:
        pass


def train(spec: JobSpec, data) -> dict[str, float]:
    """One in-process run: steady training samples/s (median of epochs 2..N) and the last validation metrics."""
    parts = build_parts(spec, data, torch.device("cpu"))
    reporter = Keep()
    fit(parts, loop_settings(spec), SingleProcess(), reporter)
    rates = [r.metrics["samples_per_second"] for r in reporter.records]
    last = reporter.records[-1].metrics
    return {"samples_per_second": statistics.median(rates[1:] or rates), "val_loss": last["val_loss"],
            "val_accuracy": last["val_accuracy"]}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, interleaved")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--each", action="store_true", help="also time each trick of the stack alone")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tricks = stack(args.epochs)
    variants = {"no tricks": [], "stacked": tricks}
    if args.each:
        variants.update({trick["name"]: [trick] for trick in tricks})
    specs = {name: job(args.epochs, chosen) for name, chosen in variants.items()}
    data = prepare_data(specs["no tricks"].data, specs["no tricks"].data.split_seed)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in specs}
    for _ in range(args.repeats):
        for name, spec in specs.items():
            results[name].append(train(spec, data))

    baseline = statistics.median(r["samples_per_second"] for r in results["no tricks"])
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s); quickstart job in-process: "
          f"{args.epochs} epochs x {len(data.train)} digits at 32x32, batch 64; median (min-max) of "
          f"{args.repeats} interleaved runs each")
    print(f"{'variant':<16} {'samples/s':>18} {'ratio':>6} {'val_loss':>9} {'val_accuracy':>13}")
    report = {}
    for name, runs in results.items():
        rates = [r["samples_per_second"] for r in runs]
        ratio = statistics.median(rates) / baseline
        loss, accuracy = (statistics.median(r[key] for r in runs) for key in ("val_loss", "val_accuracy"))
        print(f"{name:<16} {spread(rates):>18} {ratio:>6.2f} {loss:>9.4f} {accuracy:>13.3f}")
        report[name] = {"samples_per_second": rates, "ratio": ratio, "val_loss": loss, "val_accuracy": accuracy}
    print(f"the stacked tricks cost {100 * (1 - report['stacked']['ratio']):.0f}% of training throughput")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
