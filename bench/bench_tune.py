"""Ray Tune searches measured: search efficiency (grid vs ASHA vs Bayes+ASHA) and parallel trials.

efficiency  The same 27-point space over the digits guide CNN (learning rate x fc width x weight
            decay, 3 values each, native 8x8 images, 6 epochs per trial) searched three ways:
              grid        every point, every epoch (the baseline)
              asha        every grid point, ASHA stopping the weak ones (grace 1, reduction 3)
              bayes+asha  9 TPE samples (Optuna) from the same values, with the same ASHA
            Reported: total training epochs spent (from the trials' MLflow histories) and the best
            validation accuracy found; goal: within 0.5 points of the grid's best with at most a
            third of its epochs.
parallel    8 small trials (digits MLP, 3 epochs, one 1-CPU Ray Train worker each), 2 at a time
            against one at a time, in the same process and Ray: wall-clock ratio (goal <= 0.6).

Each mode uses a fresh MLflow SQLite store and checkpoint folder in a temporary directory.
Run:  python bench/bench_tune.py efficiency     python bench/bench_tune.py parallel
      (--grid-result EPOCHS BEST reuses the grid's figures from an earlier run instead of rerunning it)
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from rich.console import Console  # noqa: E402

from trainworks.runtime.console import Terminal  # noqa: E402
from trainworks.runtime.job import RunOptions  # noqa: E402
from trainworks.runtime.tune import run_trials  # noqa: E402
from trainworks.spec import load_spec  # noqa: E402
from trainworks.spec.tune import TuneSpec  # noqa: E402
from trainworks.tracking.mlflow_tracker import MlflowTracker  # noqa: E402

JOB = ROOT / "jobs" / "quickstart.yaml"
GRID = {"optimizer.lr": [0.0003, 0.001, 0.003], "model.hidden": [16, 64, 256],
        "optimizer.weight_decay": [0.0, 0.001, 0.03]}
EPOCHS = 6
ASHA = {"name": "asha", "grace_period": 1, "reduction_factor": 3}


def cnn_spec(experiment: str):
    return load_spec(JOB, [f"training.epochs={EPOCHS}", "data.preprocessing=[{name: normalize}]",
                           "model.pooled_size=2", "scaling.num_workers=1", "tracking.registered_model=null",
                           "tracking.log_model=false", f"tracking.experiment={experiment}"])


def strategies() -> dict[str, dict]:
    grid = {path: {"grid": values} for path, values in GRID.items()}
    choice = {path: {"choice": values} for path, values in GRID.items()}
    common = {"metric": "val_accuracy", "mode": "max", "max_concurrent": 2}
    return {"grid": {**common, "search": "grid", "num_samples": 1, "space": grid},
            "asha": {**common, "search": "grid", "num_samples": 1, "space": grid, "scheduler": ASHA},
            "bayes+asha": {**common, "search": "bayes", "num_samples": 9, "space": choice, "scheduler": ASHA}}


def search(spec, tune_spec: TuneSpec, tracker: MlflowTracker) -> tuple[int, float, float]:
    """(epochs trained over all trials, best final val_accuracy, wall seconds) of one search."""
    began = time.perf_counter()
    trials = run_trials(spec, tune_spec, "search", RunOptions(JOB), tracker, Terminal(Console(file=io.StringIO())))
    seconds = time.perf_counter() - began
    tracker.end_run(trials.parent_id, "FINISHED")
    histories = [tracker.epoch_history(run_id) for run_id in trials.children.values()]
    best = max(row["metrics"]["val_accuracy"] for history in histories for row in history[-1:])
    return sum(len(history) for history in histories), best, seconds


def efficiency(tracker: MlflowTracker, only: list[str], grid_result: tuple[int, float] | None) -> None:
    results = {} if grid_result is None else {"grid": (*grid_result, 0.0)}
    for name, settings in strategies().items():
        if name not in only or name in results:
            continue
        spec = cnn_spec(f"bench-{name}")
        results[name] = search(spec, TuneSpec.model_validate(settings), tracker)
        print(f"{name:>11}: {results[name][0]:4d} epochs  best val_accuracy {results[name][1]:.4f}  "
              f"({results[name][2]:.0f} s)", flush=True)
    grid_epochs, grid_best, _ = results["grid"]
    for name in ("asha", "bayes+asha"):
        epochs, best, _ = results[name]
        print(f"{name}: {epochs / grid_epochs:.2f} of the grid's epochs, best {100 * (best - grid_best):+.2f} points "
              f"vs the grid (goal: <= 0.33 and >= -0.50)")


def parallel(tracker: MlflowTracker) -> None:
    spec = load_spec(ROOT / "jobs" / "digits_search.yaml", ["training.epochs=3", "tracking.registered_model=null"])
    space = {"optimizer.lr": {"grid": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008]}}
    walls = {}
    for concurrent in (1, 2, 1, 2):  # interleaved, so drift in the machine's load hits both alike
        settings = {"metric": "val_accuracy", "mode": "max", "search": "grid", "num_samples": 1, "space": space,
                    "max_concurrent": concurrent}
        _, _, seconds = search(spec.model_copy(update={"tracking": spec.tracking.model_copy(
            update={"experiment": f"bench-parallel-{concurrent}"})}), TuneSpec.model_validate(settings), tracker)
        walls.setdefault(concurrent, []).append(seconds)
        print(f"8 trials, {concurrent} at a time: {seconds:.1f} s", flush=True)
    ratio = min(walls[2]) / min(walls[1])
    print(f"concurrent / sequential wall-clock: {ratio:.2f} (goal <= 0.6; best of 2 each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["efficiency", "parallel"])
    parser.add_argument("--only", default="grid,asha,bayes+asha", help="efficiency: strategies to run")
    parser.add_argument("--grid-result", nargs=2, type=float, metavar=("EPOCHS", "BEST"),
                        help="efficiency: the grid's figures from an earlier run of this script, not rerun")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # checkpoints/ and the store land here
        tracker = MlflowTracker(f"sqlite:///{Path(folder) / 'mlruns.db'}")
        from trainworks.runtime.cluster import connect_ray

        connect_ray(cnn_spec("bench"), None, False, print)
        if args.mode == "efficiency":
            grid = (int(args.grid_result[0]), args.grid_result[1]) if args.grid_result else None
            efficiency(tracker, args.only.split(","), grid)
        else:
            parallel(tracker)


if __name__ == "__main__":
    main()
