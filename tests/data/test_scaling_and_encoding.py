"""Min-max scaling and label / ordinal encoding: training statistics, round trips, unknown categories."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from tests.data.steps import build, column, fit
from trainworks.data.types import DataError


def test_minmax_maps_the_training_range_to_0_1_and_keeps_constant_columns_finite() -> None:
    train = pa.table({"a": [2.0, 4.0, None, 10.0], "c": [5, 5, 5, 5]})
    pipeline, out = fit("minmax", train)
    assert column(out, "a") == [0.0, 0.25, None, 1.0]
    assert column(out, "c") == [0.0] * 4  # range 0: shifted, never divided by zero
    val = pipeline.apply(pa.table({"a": [18.0, 0.0], "c": [6, 5]}))
    assert column(val, "a") == [2.0, -0.25]  # the training range, not the validation one
    assert column(val, "c") == [1.0, 0.0]


def test_minmax_and_standardize_leave_the_target_alone_by_default() -> None:
    train = pa.table({"a": [1.0, 3.0], "y": [100.0, 300.0]})
    for name in ("minmax", "standardize"):
        _, out = fit(name, train, keep_out=frozenset({"y"}))
        assert column(out, "y") == [100.0, 300.0]
        assert column(out, "a") != [1.0, 3.0]


def test_label_encoding_sorts_training_categories_round_trips_and_codes_unknown_as_minus_one() -> None:
    train = pa.table({"colour": ["red", "blue", None, "green", "blue"], "n": [1, 2, 3, 4, 5]})
    pipeline, out = fit("label_encode", train)
    categories = pipeline.states[0]["categories"]["colour"]
    assert categories == ["blue", "green", "red"]
    assert column(out, "colour") == [2, 0, -1, 1, 0] and column(out, "n") == [1, 2, 3, 4, 5]
    codes = column(pipeline.apply(pa.table({"colour": ["green", "purple", "red"], "n": [0, 0, 0]})), "colour")
    assert codes == [1, -1, 2]
    known = [value for value in column(train, "colour") if value is not None]
    assert [categories[code] for code in column(out, "colour") if code >= 0] == known  # round trip


def test_label_encoding_takes_its_unknown_code_and_numeric_columns_when_named() -> None:
    train = pa.table({"grade": [30, 10, 20]})
    pipeline, out = fit("label_encode", train, columns=["grade"], unknown=99)
    assert column(out, "grade") == [2, 0, 1]
    assert column(pipeline.apply(pa.table({"grade": [40, None]})), "grade") == [99, 99]


ORDER = {"size": ["S", "M", "L"]}


def test_ordinal_encoding_follows_the_given_order_and_codes_unknown_as_minus_one() -> None:
    train = pa.table({"size": ["L", "S", "M", "S"]})
    pipeline, out = fit("ordinal_encode", train, order=ORDER)
    assert column(out, "size") == [2, 0, 1, 0]
    assert [ORDER["size"][code] for code in column(out, "size")] == column(train, "size")  # round trip
    assert column(pipeline.apply(pa.table({"size": ["XL", None, "M"]})), "size") == [-1, -1, 1]


def test_ordinal_encoding_refuses_training_values_missing_from_the_order() -> None:
    with pytest.raises(DataError, match=r"'size' has 'XL' in training, not in its order; add them to order.size"):
        fit("ordinal_encode", pa.table({"size": ["S", "XL"]}), order=ORDER)


def test_ordinal_order_must_list_each_category_once() -> None:
    with pytest.raises(ValidationError, match="each category once"):
        build("ordinal_encode", order={"size": ["S", "S"]})


def test_ordinal_encoding_matches_numbers_as_text() -> None:
    _, out = fit("ordinal_encode", pa.table({"stars": [3, 1, 2]}), order={"stars": ["1", "2", "3"]})
    assert column(out, "stars") == [2, 0, 1]

