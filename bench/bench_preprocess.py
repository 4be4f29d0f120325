"""trainworks' table steps against scikit-learn's ColumnTransformer on the penguins-style pipeline.

Both fit on the same generated table and return it transformed (fit + transform, as on a training
split), ending in a float64 matrix with the same column order (trainworks' is column-major, the
natural layout of a columnar table; the cost of a row-major copy is printed beside the ratio):

  trainworks  impute(mean) -> winsorize(1%, 99%) -> one_hot -> standardize(numeric columns),
              pyarrow columnar steps, then the table stacked into a matrix
  sklearn     ColumnTransformer: [SimpleImputer(mean) -> QuantileClipper(1%, 99%) -> StandardScaler] on
              the numeric columns, OneHotEncoder on the text columns (scikit-learn has no winsorizer:
              QuantileClipper below learns the same linear-interpolated quantiles and clips to them)

The outputs must agree within 1e-6 (absolute). Timings are the median of --repeats runs, the two
variants interleaved; the table is built once and is not timed. On a shared machine wall time is
noisy: the best run and the CPU seconds (summed over this process's threads) are printed too. pyarrow uses its own thread pool
(all cores unless --arrow-threads); scikit-learn here runs on numpy, mostly on one core.

Run:  python bench/bench_preprocess.py [--rows 1000000] [--repeats 7] [--arrow-threads N]
"""

from __future__ import annotations

import argparse
import os
import platform as machine
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from trainworks.data.preprocess import PREPROCESSING  # noqa: E402
from trainworks.data.table import table_to_matrix  # noqa: E402
from trainworks.data.table_pipeline import fit_pipeline  # noqa: E402

NUMERIC = [f"num{i}" for i in range(10)]
CATEGORICAL = {f"cat{i}": size for i, size in enumerate((3, 5, 8, 12, 20))}
MISSING_SHARE = 0.05
LOWER, UPPER = 0.01, 0.99


def generated_table(rows: int, seed: int = 0) -> pa.Table:
    """10 numeric columns of mixed shapes with 5% missing, then 5 text columns of 3 to 20 categories."""
    rng = np.random.default_rng(seed)
    shapes = [lambda: rng.normal(50, 10, rows), lambda: rng.lognormal(3, 1, rows),
              lambda: rng.standard_t(3, rows), lambda: rng.exponential(2, rows), lambda: rng.uniform(-1, 1, rows)]
    columns: dict[str, pa.Array] = {}
    for index, name in enumerate(NUMERIC):
        values = shapes[index % len(shapes)]()
        columns[name] = pa.array(values, mask=rng.random(rows) < MISSING_SHARE)
    for name, size in CATEGORICAL.items():
        labels = np.array([f"{name}_v{k:02d}" for k in range(size)], dtype=object)
        columns[name] = pa.array(labels[rng.integers(0, size, rows)], pa.string())
    return pa.table(columns)


def trainworks_steps() -> list:
    """The penguins job's steps (jobs/penguins_mlp.yaml), standardizing the numeric columns as sklearn does."""
    specs = [("impute", {"strategy": "mean"}), ("winsorize", {"lower": LOWER, "upper": UPPER}), ("one_hot", {}),
             ("standardize", {"columns": NUMERIC})]
    return [PREPROCESSING.get(name).build(PREPROCESSING.get(name).params(**params)) for name, params in specs]


def trainworks_fit_transform(table: pa.Table) -> tuple[np.ndarray, list[str], dict[str, float]]:
    """Fit the steps on the table, return it transformed as a float64 matrix, and seconds per step."""
    seconds: dict[str, float] = {}
    for step in trainworks_steps():
        began = time.perf_counter()
        _, table = fit_pipeline([step], table)
        seconds[type(step).__name__] = time.perf_counter() - began
    began = time.perf_counter()
    matrix = table_to_matrix(table, np.float64)  # column-major: how a columnar table lays out its matrix
    seconds["to_matrix"] = time.perf_counter() - began
    return matrix, table.column_names, seconds


def row_major_seconds(matrix: np.ndarray) -> float:
    """What a row-major copy of trainworks' matrix would add (sklearn's output is row-major); not in the ratio."""
    began = time.perf_counter()
    np.ascontiguousarray(matrix)
    return time.perf_counter() - began


class QuantileClipper:
    """A fitted-quantile clipper for scikit-learn pipelines: clip each column to its training quantiles."""

    def __init__(self, lower: float = LOWER, upper: float = UPPER) -> None:
        self.lower, self.upper = lower, upper

    def fit(self, x: np.ndarray, y: object = None) -> QuantileClipper:
        self.low_, self.high_ = np.nanquantile(x, [self.lower, self.upper], axis=0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.low_, self.high_)

    def fit_transform(self, x: np.ndarray, y: object = None) -> np.ndarray:
        return self.fit(x).transform(x)

    def get_params(self, deep: bool = True) -> dict[str, float]:
        return {"lower": self.lower, "upper": self.upper}

    def set_params(self, **params: float) -> QuantileClipper:
        self.__dict__.update(params)
        return self

    def get_feature_names_out(self, names: object = None) -> object:
        return names


def sklearn_transformer():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="mean")), ("winsorize", QuantileClipper()),
                        ("scale", StandardScaler())])
    text = OneHotEncoder(sparse_output=False, handle_unknown="ignore", dtype=np.float64)
    return ColumnTransformer([("num", numeric, NUMERIC), ("cat", text, list(CATEGORICAL))],
                             verbose_feature_names_out=False)


def sklearn_fit_transform(frame) -> tuple[np.ndarray, list[str]]:
    transformer = sklearn_transformer()
    matrix = transformer.fit_transform(frame)
    return matrix, list(transformer.get_feature_names_out())


def machine_facts() -> str:
    import pandas
    import sklearn

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), machine.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{cpu or machine.machine()}, {os.cpu_count()} CPUs (pyarrow threads {pa.cpu_count()}); Python "
            f"{machine.python_version()}, pyarrow {pa.__version__}, numpy {np.__version__}, scikit-learn "
            f"{sklearn.__version__}, pandas {pandas.__version__}")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


@dataclass
class Timings:
    """Wall-clock and CPU seconds (all threads of this process) of each repeat."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @contextmanager
    def timed(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--arrow-threads", type=int, default=None, help="pyarrow's thread pool size; all cores "
                                                                        "if unset")
    args = parser.parse_args()
    if args.arrow_threads:
        pa.set_cpu_count(args.arrow_threads)
    table = generated_table(args.rows)
    frame = table.to_pandas()

    trainworks_fit_transform(table.slice(0, 1000))  # warm-up: imports and first calls, not timed
    sklearn_fit_transform(frame.iloc[:1000])
    ours, theirs, profiles = Timings(), Timings(), []
    for _ in range(args.repeats):
        with ours.timed():
            tw_matrix, tw_names, seconds = trainworks_fit_transform(table)
        profiles.append(seconds)
        with theirs.timed():
            sk_matrix, sk_names = sklearn_fit_transform(frame)

    assert [name.replace("=", "_") for name in tw_names] == sk_names, (tw_names, sk_names)
    difference = float(np.abs(tw_matrix - sk_matrix).max())
    assert difference <= 1e-6, f"outputs differ by {difference}"

    print(machine_facts())
    print(f"{args.rows:,} rows x {len(NUMERIC)} numeric ({MISSING_SHARE:.0%} missing) + {len(CATEGORICAL)} text "
          f"columns -> {tw_matrix.shape[1]} outputs; fit + transform, median (min-max) of {args.repeats} runs")
    print(f"  {'':<11} {'wall s, median (min-max)':>26} {'CPU s, median':>14}")
    for name, timings in (("trainworks", ours), ("sklearn", theirs)):
        print(f"  {name:<11} {spread(timings.wall):>26} {statistics.median(timings.cpu):>14.3f}")
    print(f"  speed-up    {statistics.median(theirs.wall) / statistics.median(ours.wall):.2f}x by median wall time, "
          f"{min(theirs.wall) / min(ours.wall):.2f}x by best wall time, "
          f"{statistics.median(theirs.cpu) / statistics.median(ours.cpu):.2f}x by CPU time; outputs agree "
          f"(max abs difference {difference:.1e})")
    print("  trainworks by step, median s: " + ", ".join(
        f"{name} {statistics.median(p[name] for p in profiles):.3f}" for name in profiles[0]))
    print(f"  a row-major copy of trainworks' matrix would add {row_major_seconds(tw_matrix):.3f} s")


if __name__ == "__main__":
    main()
