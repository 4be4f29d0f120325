"""Time-series features: calendar parts, gaps, lags and rolling windows; none of them reads the future."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from tests.data.steps import build, column, fit

START = datetime(2024, 1, 1, 13, 30)  # a Monday


def series(values: list[float], step_days: list[float] | None = None) -> pa.Table:
    offsets = np.cumsum([0.0, *(step_days or [1.0] * (len(values) - 1))])
    times = pa.array([START + timedelta(days=float(d)) for d in offsets], pa.timestamp("s"))
    return pa.table({"t": times, "v": values})


def test_timestamp_parts_give_the_calendar() -> None:
    table = pa.table({"t": pa.array([START, datetime(2023, 12, 31, 23)], pa.timestamp("s"))})
    _, out = fit("timestamp_parts", table, parts=["year", "month", "day", "weekday", "hour", "day_of_year", "week"])
    assert column(out, "t_year") == [2024, 2023] and column(out, "t_month") == [1, 12]
    assert column(out, "t_day") == [1, 31] and column(out, "t_weekday") == [0, 6]  # Monday 0, Sunday 6
    assert column(out, "t_hour") == [13, 23] and column(out, "t_day_of_year") == [1, 365]
    assert column(out, "t_week") == [1, 52]


def test_cyclic_months_put_december_next_to_january() -> None:
    months = pa.array([datetime(2024, m, 1) for m in (1, 2, 7, 12)], pa.timestamp("s"))
    _, out = fit("timestamp_parts", pa.table({"t": months, "year_only": [1, 2, 3, 4]}),
                 parts=["month", "year"], cyclic=True)
    points = np.array([column(out, "t_month_sin"), column(out, "t_month_cos")]).T
    assert points[0] == pytest.approx([0.0, 1.0]) and points[2] == pytest.approx([0.0, -1.0], abs=1e-12)
    distance = np.linalg.norm
    assert distance(points[3] - points[0]) == pytest.approx(distance(points[1] - points[0]))
    assert column(out, "t_year") == [2024] * 4  # year is not cyclic
    assert "t_month" not in out.column_names


def test_time_since_previous_measures_gaps_and_drops_the_first_training_row() -> None:
    table = series([1.0, 2.0, 3.0], step_days=[1.0, 2.5])
    pipeline, out = fit("time_since_previous", table)
    assert column(out, "t_since_previous_days") == [1.0, 2.5] and column(out, "v") == [2.0, 3.0]
    other = pipeline.apply(table)  # not the training split: no row dropped, the first has no gap
    assert column(other, "t_since_previous_days") == [None, 1.0, 2.5]
    _, hours = fit("time_since_previous", table, unit="hours")
    assert column(hours, "t_since_previous_hours") == [24.0, 60.0]


def test_lags_read_earlier_rows_and_drop_training_rows_without_them() -> None:
    table = series([10.0, 20.0, 30.0, 40.0, 50.0])
    pipeline, out = fit("lags", table, columns=["v"], lags=[1, 2])
    assert column(out, "v") == [30.0, 40.0, 50.0]
    assert column(out, "v_lag1") == [20.0, 30.0, 40.0] and column(out, "v_lag2") == [10.0, 20.0, 30.0]
    other = pipeline.apply(table)  # other data keep every row; lags without history are missing
    assert column(other, "v_lag2") == [None, None, 10.0, 20.0, 30.0]


def test_rolling_windows_end_at_the_current_row() -> None:
    table = series([1.0, 2.0, 4.0, 8.0, 16.0])
    pipeline, _ = fit("rolling", table, columns=["v"], windows=[3], stats=["mean", "std", "min", "max"])
    out = pipeline.apply(table)
    assert column(out, "v_roll3_mean") == pytest.approx([None, None, 7 / 3, 14 / 3, 28 / 3])
    assert column(out, "v_roll3_std")[2] == pytest.approx(np.std([1.0, 2.0, 4.0]))
    assert column(out, "v_roll3_min")[2:] == [1.0, 2.0, 4.0] and column(out, "v_roll3_max")[2:] == [4.0, 8.0, 16.0]


def test_a_gap_inside_a_rolling_window_makes_that_window_missing() -> None:
    out = build("rolling", columns=["v"], windows=[2]).apply(series([1.0, None, 3.0, 5.0]),
                                                            {"columns": ["v"], "windows": [2], "stats": ["mean"]})
    assert column(out, "v_roll2_mean") == [None, None, None, 4.0]


ORDER_DEPENDENT = {
    "lags": {"columns": ["v"], "lags": [1, 3]},
    "rolling": {"columns": ["v"], "windows": [1, 3], "stats": ["mean", "std", "min", "max"]},
    "time_since_previous": {},
    "timestamp_parts": {"cyclic": True},
}


@pytest.mark.parametrize("name", sorted(ORDER_DEPENDENT))
def test_no_feature_reads_a_later_row(name: str) -> None:
    rng = np.random.default_rng(0)
    values, gaps = rng.normal(size=12).tolist(), rng.uniform(0.5, 2.0, 11).tolist()
    pipeline, _ = fit(name, series(values, gaps), **ORDER_DEPENDENT[name])
    before = pipeline.apply(series(values, gaps)).to_pylist()
    for t in range(1, 12):  # change row t (value and time): rows before t must not move
        changed_values = values[:t] + [values[t] + 100.0] + values[t + 1:]
        changed_gaps = gaps[:t - 1] + [gaps[t - 1] + 3.0] + gaps[t:]
        after = pipeline.apply(series(changed_values, changed_gaps)).to_pylist()
        assert after[:t] == before[:t], f"{name}: a feature before row {t} changed when row {t} changed"
        assert after[t] != before[t]  # and the change is seen from row t on


def test_lagged_training_rows_are_the_rows_inference_would_build() -> None:
    table = series([float(i) ** 2 for i in range(8)])
    pipeline, train = fit("lags", table, columns=["v"], lags=[2])
    assert train.to_pylist() == pipeline.apply(table).slice(2).to_pylist()


def test_time_features_need_a_timestamp_column() -> None:
    with pytest.raises(ValueError, match="'v' is not a timestamp column"):
        build("timestamp_parts", column="v").fit(series([1.0, 2.0]))
    with pytest.raises(ValueError, match="the table has 0 timestamp columns"):
        build("time_since_previous").fit(pa.table({"v": [1.0]}))
