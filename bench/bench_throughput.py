"""trainworks against a plain PyTorch loop: steady-state throughput ratio and fixed start-up seconds.

Same model (the corrected guide CNN), data (digits resized to 32x32, normalized), batch 64,
Adam and epochs. The plain loop runs in this process; trainworks runs as users run it, as a
`trainworks run` command (so its start-up includes the interpreter, imports, Ray and MLflow):

  plain    a hand-written PyTorch loop with `--threads` torch threads; no Ray, no MLflow
  inline   `trainworks run --inline`: the trainworks loop in one process, recorded in MLflow
  ray      `trainworks run`: one Ray Train worker with `--threads` CPUs (= torch threads), embedded Ray

samples/s is training throughput (validation excluded), the median over epochs 2..N; fixed
seconds = wall-clock - time inside epochs (training + validation). Phases come from the
run's own `seconds_*` metrics.

Run:  python bench/bench_throughput.py [--epochs 12] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from trainworks.data.prepare import prepare_data  # noqa: E402
from trainworks.engine.assemble import build_model  # noqa: E402
from trainworks.spec import load_spec  # noqa: E402

JOB = ROOT / "jobs" / "quickstart.yaml"
PHASES = ("data", "ray", "mlflow", "training_start", "startup", "outcome")


def overrides(epochs: int, threads: int) -> list[str]:
    return [f"training.epochs={epochs}", "scaling.num_workers=1", f"scaling.cpus_per_worker={threads}",
            "tracking.registered_model=null", "tracking.experiment=bench"]


def plain(spec, data, threads: int) -> dict:
    """A hand-written loop over the same tensors: training samples/s and seconds per epoch."""
    torch.set_num_threads(threads)
    began = time.perf_counter()
    model = build_model(spec, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.optimizer.lr)
    x, y, batch = data.train.x, data.train.y, spec.training.batch_size
    rates, seconds = [], []
    for epoch in range(spec.training.epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        started = time.perf_counter()
        for start in range(0, len(x), batch):
            rows = order[start:start + batch]
            loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        rates.append(len(x) / (time.perf_counter() - started))
        model.eval()
        with torch.no_grad():
            (model(data.val.x).argmax(-1) == data.val.y).float().mean()
        seconds.append(time.perf_counter() - started)
    return {"wall": time.perf_counter() - began, "rates": rates, "epoch_seconds": sum(seconds), "phases": {}}


def trainworks(epochs: int, threads: int, inline: bool) -> dict:
    """One `trainworks run` command in a fresh folder; wall seconds and the metrics its run logged."""
    from mlflow import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="trainworks-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "RAY_ADDRESS"}}
    command = [sys.executable, "-m", "trainworks.cli", "run", str(JOB), *sum((["--set", o] for o in
                                                                              overrides(epochs, threads)), [])]
    began = time.perf_counter()
    subprocess.run(command + (["--inline"] if inline else []), cwd=folder, env=env, check=True,
                   capture_output=True, text=True)
    wall = time.perf_counter() - began
    client = MlflowClient(f"sqlite:///{folder / 'mlruns.db'}")
    run = client.search_runs([client.get_experiment_by_name("bench").experiment_id])[0]
    history = lambda name: [p.value for p in sorted(client.get_metric_history(run.info.run_id, name),
                                                    key=lambda p: p.step)]
    return {"wall": wall, "rates": history("samples_per_second"), "epoch_seconds": sum(history("epoch_seconds")),
            "phases": {name: run.data.metrics.get(f"seconds_{name}", 0.0) for name in PHASES}}


def steady(rates: list[float]) -> float:
    """Median over all epochs but the first (warm-up)."""
    return statistics.median(rates[1:])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the plain loop = CPUs of the "
                                                               "one Ray Train worker")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, interleaved")
    args = parser.parse_args()
    spec = load_spec(JOB, overrides(args.epochs, args.threads))
    data = prepare_data(spec.data, spec.data.split_seed)
    results: dict[str, list[dict]] = {"plain": [], "inline": [], "ray": []}
    for _ in range(args.repeats):
        results["plain"].append(plain(spec, data, args.threads))
        results["inline"].append(trainworks(args.epochs, args.threads, inline=True))
        results["ray"].append(trainworks(args.epochs, args.threads, inline=False))

    baseline = statistics.median(steady(r["rates"]) for r in results["plain"])
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s); {args.epochs} epochs x "
          f"{len(data.train)} digits at 32x32, batch 64; median (min-max) of {args.repeats} runs each")
    print(f"{'variant':<8} {'samples/s':>20} {'ratio':>6} {'wall s':>18} {'fixed s':>18}")
    report = {}
    for name, runs in results.items():
        rates = [steady(r["rates"]) for r in runs]
        fixed = [r["wall"] - r["epoch_seconds"] for r in runs]
        ratio = statistics.median(rates) / baseline
        print(f"{name:<8} {spread(rates):>20} {ratio:>6.2f} {spread([r['wall'] for r in runs]):>18} "
              f"{spread(fixed):>18}")
        report[name] = {"samples_per_second": rates, "ratio": ratio, "wall": [r["wall"] for r in runs],
                        "fixed": fixed, "phases": [r["phases"] for r in runs]}
    print("phases of the trainworks runs, median seconds (ray and mlflow start side by side):")
    print(f"{'variant':<8} " + " ".join(f"{name:>14}" for name in PHASES))
    for name in ("inline", "ray"):
        print(f"{name:<8} " + " ".join(f"{statistics.median(r['phases'][p] for r in results[name]):>14.1f}"
                                       for p in PHASES))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
