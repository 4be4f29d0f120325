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
from trainworks.data.table import feature_columns, is_numeric, require_complete, table_to_tensor
from trainworks.data.table_pipeline import blame, fit_pipeline
from trainworks.data.timeseries import prepare_series
from trainworks.data.types import DataBundle, DataError, DataInfo, RawImages, RawSeries, RawTable, Split
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
    raw = loaded.train
    if isinstance(raw, Environment):
        return _environment_bundle(raw)
    if isinstance(raw, RawImages):
        bundle = _prepare_images(loaded, steps, data_spec.val_fraction, data_spec.split_seed)
    elif isinstance(raw, RawSeries):
        bundle = prepare_series(raw, steps, data_spec.val_fraction)
    else:
        bundle = _prepare_table(raw, steps, data_spec.val_fraction, data_spec.split_seed)
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


def _fit_image_steps(steps: Sequence[Any], sample: torch.Tensor) -> list[State]:
    """Fit each step on the output of the ones before it; a step's error names its position."""
    states = []
    for index, step in enumerate(steps):
        with blame(index):
            state = step.fit(sample)
            sample = step.apply(sample, state)
        states.append(state)
    return states


def _prepare_images(loaded: LoadedData, steps: list[Any], val_fraction: float, seed: int) -> DataBundle:
    train, val = loaded.train, loaded.val
    if val is None:
        train_rows, val_rows = split_indices(train.y, len(train.y), val_fraction, seed)
        train, val = (RawImages(train.x[rows], train.y[rows], train.classes) for rows in (train_rows, val_rows))
    fit_rows = torch.randperm(len(train.x), generator=torch.Generator().manual_seed(seed))[:FIT_SAMPLE]
    states = _fit_image_steps(steps, train.x[fit_rows])
    pipeline = ImagePipeline(tuple(steps), tuple(states))
    shape = tuple(pipeline(train.x[:1]).shape[1:])
    fits_memory = (len(train.x) + len(val.x)) * math.prod(shape) * 4 <= MEMORY_BUDGET_BYTES
    if fits_memory:
        train_split, val_split = Split(pipeline.in_chunks(train.x), train.y), Split(pipeline.in_chunks(val.x), val.y)
    else:
        train_split, val_split = Split(train.x, train.y), Split(val.x, val.y)
    info = DataInfo("classification", "image", shape, len(train.classes), train.classes)
    return DataBundle(train_split, val_split, info, states, None if fits_memory else pipeline)


def _prepare_table(raw: RawTable, steps: list[Any], val_fraction: float, seed: int) -> DataBundle:
    """Split rows (stratified for classes), fit the steps on the training rows with the target riding along."""
    table = raw.table.filter(pc.is_valid(raw.table.column(raw.target)))
    labels, classes = _encode_target(table.column(raw.target), raw.task)
    stratify = labels if raw.task == "classification" else None
    train_rows, val_rows = split_indices(stratify, len(labels), val_fraction, seed)
    train, val = table.take(pa.array(train_rows.numpy())), table.take(pa.array(val_rows.numpy()))
    pipeline, train = fit_pipeline(steps, train, keep_out=frozenset({raw.target}))
    val = pipeline.apply(val)
    if raw.target not in train.column_names:
        raise DataError("data.preprocessing", f"a step removed the target column '{raw.target}'")
    names = feature_columns(train, exclude=frozenset({raw.target}))
    splits = [_table_split(part, names, raw, classes, where) for part, where in ((train, "in the training split"),
                                                                                   (val, "in the validation split"))]
    outputs = len(classes) if raw.task == "classification" else 1
    info = DataInfo(raw.task, "table", (len(names),), outputs, classes, tuple(names))
    return DataBundle(*splits, info, list(pipeline.states))


def _table_split(table: pa.Table, names: list[str], raw: RawTable, classes: tuple[str, ...], where: str) -> Split:
    """Features as a float matrix and the target encoded with the classes found before the split."""
    require_complete(table, names, where)
    return Split(table_to_tensor(table.select(names)), _encode_target(table.column(raw.target), raw.task, classes)[0])


def _encode_target(column: pa.ChunkedArray, task: str,
                   classes: tuple[str, ...] | None = None) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Class ids (classes sorted by name unless given) for classification, floats N,1 for regression."""
    if task == "regression":
        if not is_numeric(column):
            raise DataError("data.dataset.task", "regression needs a numeric target column")
        return torch.tensor(pc.cast(column, pa.float64()).to_numpy(), dtype=torch.float32).view(-1, 1), ()
    values = [str(v) for v in column.to_pylist()]
    classes = classes if classes is not None else tuple(sorted(set(values)))
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise DataError("data.preprocessing", f"a step changed the target: {', '.join(unknown[:3])} are not classes")
    return torch.tensor([index[v] for v in values], dtype=torch.long), classes
