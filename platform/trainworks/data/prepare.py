"""From a data spec to a DataBundle: load, split, fit preprocessing on the training split, apply."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import torch

from trainworks.data.datasets import DATASETS, LoadedData
from trainworks.data.preprocess import PREPROCESSING, State
from trainworks.data.table import is_numeric, table_to_tensor
from trainworks.data.types import DataBundle, DataError, DataInfo, RawImages, Split
from trainworks.rl.environment import Environment

MEMORY_BUDGET_BYTES = 2 * 1024**3
FIT_SAMPLE = 10_000
CHUNK = 2048


def split_indices(
    labels: torch.Tensor | None, n: int, val_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded train/validation row indices; stratified by class when labels are given."""
    generator = torch.Generator().manual_seed(seed)
    groups = [torch.arange(n)] if labels is None else [torch.nonzero(labels == c).flatten() for c in labels.unique()]
    train, val = [], []
    for rows in groups:
        rows = rows[torch.randperm(len(rows), generator=generator)]
        n_val = round(len(rows) * val_fraction)
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


@dataclass(frozen=True)
class ImagePipeline:
    """Fitted image steps as one batch transform (picklable, so it travels to Ray workers)."""

    steps: tuple[Any, ...]
    states: tuple[State, ...]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for step, state in zip(self.steps, self.states):
            images = step.apply(images, state)
        return images

    def in_chunks(self, images: torch.Tensor) -> torch.Tensor:
        """The transform over a whole split, a chunk at a time to bound peak memory."""
        if not self.steps:
            return images
        return torch.cat([self(chunk) for chunk in images.split(CHUNK)])


def prepare_data(data_spec: Any, seed: int) -> DataBundle:
    """The job's data, split and preprocessed; errors name the spec field to fix."""
    dataset = data_spec.dataset
    loaded = DATASETS.get(dataset.name).build(dataset)
    steps = [PREPROCESSING.get(step.name).build(step) for step in data_spec.preprocessing]
    if isinstance(loaded.train, Environment):
        return _environment_bundle(loaded.train)
    if isinstance(loaded.train, RawImages):
        bundle = _prepare_images(loaded, steps, data_spec.val_fraction, data_spec.split_seed)
    else:
        bundle = _prepare_table(loaded, steps, dataset.target, dataset.task, data_spec.val_fraction,
                                data_spec.split_seed)
    return replace(bundle, preprocessing=_describe(data_spec.preprocessing, bundle.preprocessing))


def _environment_bundle(environment: Environment) -> DataBundle:
    """No examples up front: a policy learns from episodes it plays (see trainworks.rl)."""
    empty = Split(torch.empty(0, *environment.observation_shape), torch.empty(0, dtype=torch.long))
    info = DataInfo("control", "environment", environment.observation_shape, environment.actions)
    return DataBundle(empty, empty, info)


def _describe(spec_steps: Sequence[Any], states: Sequence[State]) -> list[dict[str, Any]]:
    """The fitted state as logged with the model: step name, its parameters, what it learnt."""
    return [{"step": step.name, "params": step.model_dump(exclude={"name"}), "state": state}
            for step, state in zip(spec_steps, states)]


def _fit_steps(steps: Sequence[Any], sample: Any) -> list[State]:
    """Fit each step on the output of the ones before it; a step's error names its position."""
    states = []
    for index, step in enumerate(steps):
        try:
            state = step.fit(sample)
            sample = step.apply(sample, state)
        except (ValueError, TypeError, pa.ArrowException) as error:
            raise DataError(f"data.preprocessing[{index}]", str(error)) from error
        states.append(state)
    return states


def _prepare_images(loaded: LoadedData, steps: list[Any], val_fraction: float, seed: int) -> DataBundle:
    train, val = loaded.train, loaded.val
    if val is None:
        train_rows, val_rows = split_indices(train.y, len(train.y), val_fraction, seed)
        train, val = (RawImages(train.x[rows], train.y[rows], train.classes) for rows in (train_rows, val_rows))
    fit_rows = torch.randperm(len(train.x), generator=torch.Generator().manual_seed(seed))[:FIT_SAMPLE]
    states = _fit_steps(steps, train.x[fit_rows])
    pipeline = ImagePipeline(tuple(steps), tuple(states))
    shape = tuple(pipeline(train.x[:1]).shape[1:])
    fits_memory = (len(train.x) + len(val.x)) * math.prod(shape) * 4 <= MEMORY_BUDGET_BYTES
    if fits_memory:
        train_split, val_split = Split(pipeline.in_chunks(train.x), train.y), Split(pipeline.in_chunks(val.x), val.y)
    else:
        train_split, val_split = Split(train.x, train.y), Split(val.x, val.y)
    info = DataInfo("classification", "image", shape, len(train.classes), train.classes)
    return DataBundle(train_split, val_split, info, states, None if fits_memory else pipeline)


def _prepare_table(
    loaded: LoadedData, steps: list[Any], target: str, task: str, val_fraction: float, seed: int
) -> DataBundle:
    table = loaded.train
    table = table.filter(pc.is_valid(table.column(target)))
    labels, classes = _encode_target(table.column(target), task)
    features = table.drop_columns([target])
    train_rows, val_rows = split_indices(labels if task == "classification" else None, len(labels), val_fraction, seed)
    train_table, val_table = features.take(pa.array(train_rows.numpy())), features.take(pa.array(val_rows.numpy()))
    states = _fit_steps(steps, train_table)
    for step, state in zip(steps, states):
        train_table, val_table = step.apply(train_table, state), step.apply(val_table, state)
    _require_numeric(train_table)
    x_train, x_val = table_to_tensor(train_table), table_to_tensor(val_table)
    outputs = len(classes) if task == "classification" else 1
    info = DataInfo(task, "table", (x_train.shape[1],), outputs, classes, tuple(train_table.column_names))
    return DataBundle(Split(x_train, labels[train_rows]), Split(x_val, labels[val_rows]), info, states)


def _encode_target(column: pa.ChunkedArray, task: str) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Class ids (classes sorted by name) for classification, floats N,1 for regression."""
    if task == "regression":
        if not is_numeric(column):
            raise DataError("data.dataset.task", "regression needs a numeric target column")
        return torch.tensor(pc.cast(column, pa.float64()).to_numpy(), dtype=torch.float32).view(-1, 1), ()
    values = [str(v) for v in column.to_pylist()]
    classes = tuple(sorted(set(values)))
    index = {name: i for i, name in enumerate(classes)}
    return torch.tensor([index[v] for v in values], dtype=torch.long), classes


def _require_numeric(table: pa.Table) -> None:
    """Every feature must be a complete number by now; say which step would make it one."""
    text = [name for name in table.column_names if not is_numeric(table.column(name))]
    if text:
        raise DataError("data.preprocessing", f"columns {', '.join(text)} hold text; add a one_hot step for them")
    missing = [name for name in table.column_names if table.column(name).null_count]
    if missing:
        raise DataError("data.preprocessing", f"columns {', '.join(missing)} have missing values; add an impute step")
