"""Table steps in order: fitted on the training split, re-applied unchanged to any other table.

Row-dropping steps (`RowFilter`) drop rows only while the training split passes through; on
validation and inference data every row stays. Features and target travel in one table, so a
dropped row loses both.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import pyarrow as pa

from trainworks.data.preprocess import NO_COLUMNS, PREPROCESSING, RowFilter, State, TableStep
from trainworks.data.types import DataError


@contextmanager
def blame(index: int) -> Iterator[None]:
    """Turn a step's error into a DataError at its place in the spec."""
    try:
        yield
    except (ValueError, TypeError, KeyError, pa.ArrowException) as error:
        raise DataError(f"data.preprocessing[{index}]", str(error)) from error


def run_step(step: TableStep, state: State, table: pa.Table, training: bool) -> pa.Table:
    """One fitted step over a table; on the training split a row filter also drops rows."""
    table = step.apply(table, state)
    if training and isinstance(step, RowFilter):
        table = table.filter(step.training_rows(table, state))
    return table


@dataclass(frozen=True)
class TablePipeline:
    """Fitted table steps and their states (plain JSON), applied in order."""

    steps: tuple[TableStep, ...]
    states: tuple[State, ...]

    def apply(self, table: pa.Table, training: bool = False) -> pa.Table:
        """The table through every step; rows are dropped only when `training` is true."""
        for index, (step, state) in enumerate(zip(self.steps, self.states)):
            with blame(index):
                table = run_step(step, state, table, training)
        return table


def fit_pipeline(steps: Sequence[TableStep], train: pa.Table,
                 keep_out: frozenset[str] = NO_COLUMNS) -> tuple[TablePipeline, pa.Table]:
    """Fit each step on the training table as the steps before it left it; returns it transformed as well."""
    states = []
    for index, step in enumerate(steps):
        with blame(index):
            state = step.fit(train, keep_out)
            train = run_step(step, state, train, training=True)
        states.append(state)
    return TablePipeline(tuple(steps), tuple(states)), train


def pipeline_from_log(logged: Sequence[dict[str, Any]]) -> TablePipeline:
    """The pipeline as logged with a model (`preprocessing.json`), rebuilt to preprocess inference data."""
    steps, states = [], []
    for record in logged:
        entry = PREPROCESSING.get(record["step"])
        steps.append(entry.build(entry.params(**record["params"])))
        states.append(record["state"])
    return TablePipeline(tuple(steps), tuple(states))
