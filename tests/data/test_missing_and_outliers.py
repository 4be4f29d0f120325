"""Missing values and outliers: training rows are dropped with their targets, other splits never lose a row."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from tests.data.steps import build, column, fit
from trainworks.data.types import DataError

TARGET = frozenset({"y"})


def test_drop_missing_drops_training_rows_with_their_targets_and_never_validation_rows() -> None:
    train = pa.table({"a": [1.0, None, 3.0, 4.0], "b": ["x", "y", None, "z"], "y": [10, 20, 30, None]})
    pipeline, out = fit("drop_missing", train, keep_out=TARGET)
    assert column(out, "a") == [1.0, 4.0] and column(out, "y") == [10, None]  # target kept out of the default check
    val = pa.table({"a": [None, 2.0], "b": ["x", None], "y": [1, 2]})
    assert pipeline.apply(val).equals(val)
    _, only_a = fit("drop_missing", train, keep_out=TARGET, columns=["a"])
    assert column(only_a, "y") == [10, 30, None]


def test_linear_interpolation_fills_between_neighbours_and_holds_the_ends() -> None:
    table = pa.table({"v": [None, 1.0, None, None, 4.0, None]})
    pipeline, out = fit("interpolate", table)
    assert column(out, "v") == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert column(pipeline.apply(pa.table({"v": [0.0, None, 10.0]})), "v") == [0.0, 5.0, 10.0]


def days(*offsets: float) -> pa.Array:
    start = datetime(2020, 1, 1)
    return pa.array([start + timedelta(days=d) for d in offsets], pa.timestamp("s"))


def test_time_aware_interpolation_weights_by_time_not_by_row() -> None:
    table = pa.table({"t": days(0, 1, 4), "v": [0.0, None, 4.0]})
    _, by_time = fit("interpolate", table, method="time")
    _, by_row = fit("interpolate", table, method="linear")
    assert column(by_time, "v")[1] == pytest.approx(1.0)  # 1 day of 4
    assert column(by_row, "v")[1] == pytest.approx(2.0)   # 1 row of 2


def test_time_interpolation_refuses_rows_out_of_time_order() -> None:
    table = pa.table({"t": days(0, 2, 1), "v": [0.0, None, 4.0]})
    with pytest.raises(DataError, match=r"data.preprocessing\[0\]: interpolate by time needs the rows in time order"):
        fit("interpolate", table, method="time")


SKEWED = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 5.0, 60.0]


def test_zscore_filter_drops_training_outliers_with_targets_using_training_statistics() -> None:
    train = pa.table({"a": SKEWED + [None], "y": list(range(11))})
    pipeline, out = fit("zscore_filter", train, keep_out=TARGET, k=2.0)
    values = np.array(SKEWED)
    low, high = pipeline.states[0]["limits"]["a"]
    assert (low, high) == pytest.approx((values.mean() - 2 * values.std(), values.mean() + 2 * values.std()))
    assert column(out, "a") == SKEWED[:-1] + [None]  # 60 dropped; a missing value is no outlier
    assert column(out, "y") == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10]  # the target went with its row
    val = pa.table({"a": [1000.0, -1000.0], "y": [0, 1]})
    assert pipeline.apply(val).equals(val)  # validation rows are never dropped


def test_iqr_filter_uses_tukey_fences_of_the_training_split() -> None:
    train = pa.table({"a": SKEWED, "y": list(range(10))})
    pipeline, out = fit("iqr_filter", train, keep_out=TARGET)
    q1, q3 = np.quantile(SKEWED, [0.25, 0.75])
    assert pipeline.states[0]["limits"]["a"] == pytest.approx([q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)])
    assert 60.0 not in column(out, "a") and len(out) == 9
    assert column(out, "y") == list(range(9))
    assert len(pipeline.apply(pa.table({"a": [60.0, 99.0], "y": [0, 1]}))) == 2


def test_filters_leave_the_target_out_of_their_default_columns() -> None:
    train = pa.table({"a": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 1.0, 1.0, 1e9]})
    _, out = fit("zscore_filter", train, keep_out=TARGET, k=1.5)
    assert len(out) == 4
    _, with_target = fit("zscore_filter", train, k=1.5)  # the same data with y an ordinary column
    assert len(with_target) == 3


def test_winsorized_values_lie_inside_the_training_quantiles() -> None:
    rng = np.random.default_rng(0)
    train_values = rng.standard_t(2, 500)
    val_values = np.concatenate([rng.standard_t(2, 100), [1e6, -1e6]])
    pipeline, out = fit("winsorize", pa.table({"a": train_values}), lower=0.05, upper=0.95)
    low, high = np.quantile(train_values, [0.05, 0.95])
    assert pipeline.states[0]["limits"]["a"] == pytest.approx([low, high])
    # with the validation rows the upper quantile would move: the statistic is the training split's own
    assert np.quantile(np.concatenate([train_values, val_values]), 0.95) != pytest.approx(high)
    val = pipeline.apply(pa.table({"a": val_values}))
    for clipped in (np.array(column(out, "a")), np.array(column(val, "a"))):
        assert clipped.min() >= low - 1e-12 and clipped.max() <= high + 1e-12
    assert column(val, "a")[-2:] == pytest.approx([high, low])
    inside = (train_values > low) & (train_values < high)
    assert np.array(column(out, "a"))[inside] == pytest.approx(train_values[inside])  # the middle is untouched


def test_winsorize_keeps_missing_values_missing_and_refuses_inverted_quantiles() -> None:
    _, out = fit("winsorize", pa.table({"a": [1.0, None, 3.0]}))
    assert column(out, "a")[1] is None
    with pytest.raises(ValueError, match="lower"):
        build("winsorize", lower=0.9, upper=0.1)
