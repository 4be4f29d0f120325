"""Small helpers for step tests: build a registered step from keyword parameters, run a fitted pipeline."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from trainworks.data.preprocess import PREPROCESSING
from trainworks.data.table_pipeline import TablePipeline, fit_pipeline


def build(name: str, **params: Any) -> Any:
    """The registered step `name` with these parameters (validated like a job file's)."""
    entry = PREPROCESSING.get(name)
    return entry.build(entry.params(**params))


def fit(name: str, train: pa.Table, keep_out: frozenset[str] = frozenset(), **params: Any
        ) -> tuple[TablePipeline, pa.Table]:
    """One step fitted on `train` through the pipeline (training rows dropped as on the training split);
    the state goes through JSON first, as it does when logged with a model."""
    pipeline, train_out = fit_pipeline([build(name, **params)], train, keep_out)
    states = tuple(json.loads(json.dumps(state)) for state in pipeline.states)
    return TablePipeline(pipeline.steps, states), train_out


def column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()
