"""Preprocessing steps: statistics come from the training split only and are re-applied unchanged."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
import torch

from trainworks.data.augment import AUGMENTATIONS
from trainworks.data.preprocess import PREPROCESSING

TRAIN = pa.table({"a": [1.0, None, 3.0, 5.0], "b": ["x", "y", None, "y"], "c": [7, 7, 7, 7]})
VAL = pa.table({"a": [None, 100.0], "b": ["z", "x"], "c": [7, 8]})


def step(name: str, **params):
    entry = PREPROCESSING.get(name)
    return entry.build(entry.params(**params))


def fit_apply(name: str, **params):
    built = step(name, **params)
    state = built.fit(TRAIN)
    json.dumps(state)  # the fitted state is plain JSON, so it can be logged and re-applied
    return state, built.apply(TRAIN, state), built.apply(VAL, state)


@pytest.mark.parametrize(("strategy", "fill_a"), [("mean", 3.0), ("median", 3.0), ("most_frequent", 1.0)])
def test_impute_fills_with_training_statistics(strategy: str, fill_a: float) -> None:
    _, train, val = fit_apply("impute", strategy=strategy, columns=["a"])
    assert train.column("a").to_pylist()[1] == fill_a
    assert val.column("a").to_pylist() == [fill_a, 100.0]  # the validation 100.0 never moved the statistic


def test_most_frequent_fills_text_and_numeric_columns() -> None:
    _, train, _ = fit_apply("impute", strategy="most_frequent")
    assert train.column("b").to_pylist()[2] == "y"


def test_mean_impute_refuses_text_columns() -> None:
    with pytest.raises(ValueError, match="b hold text: use most_frequent"):
        step("impute", strategy="mean", columns=["b"]).fit(TRAIN)


def test_one_hot_uses_training_categories_and_zeros_for_unknown_or_missing() -> None:
    state, train, val = fit_apply("one_hot")
    assert state["categories"] == {"b": ["x", "y"]}
    assert train.column_names == ["a", "b=x", "b=y", "c"]
    assert train.column("b=x").to_pylist() == [1, 0, 0, 0] and train.column("b=y").to_pylist() == [0, 1, 0, 1]
    assert val.column("b=x").to_pylist() == [0, 1] and val.column("b=y").to_pylist() == [0, 0]  # 'z' unseen


def test_standardize_gives_training_split_mean_0_std_1_and_leaves_constants_finite() -> None:
    filled = step("impute").apply(TRAIN, step("impute").fit(TRAIN))
    built = step("standardize")
    state = built.fit(filled)
    out = built.apply(filled, state)
    a = torch.tensor(out.column("a").to_pylist())
    assert a.mean().abs() < 1e-9 and (a.std(unbiased=False) - 1).abs() < 1e-9
    assert out.column("c").to_pylist() == [0.0] * 4  # constant column: centred, not divided by zero
    assert built.apply(VAL, state).column("c").to_pylist() == [0.0, 1.0]


def test_resize_and_normalize_on_image_batches() -> None:
    images = torch.rand(5, 3, 8, 8)
    resized = step("resize", size=[16, 12]).apply(images, {"size": [16, 12]})
    assert resized.shape == (5, 3, 16, 12)
    normalize = step("normalize")
    state = normalize.fit(images)
    out = normalize.apply(images, state)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4)
    fixed = step("normalize", mean=[0.5], std=[0.5])
    assert torch.allclose(fixed.apply(images, fixed.fit(images)), images * 2 - 1)


def test_augmentations_keep_shape_and_only_move_pixels() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 1, 8, 8)
    flipped = AUGMENTATIONS.get("hflip").build(AUGMENTATIONS.get("hflip").params(p=1.0))(images)
    assert torch.equal(flipped, images.flip(-1))
    crop = AUGMENTATIONS.get("random_crop")
    cropped = crop.build(crop.params(padding=2))(images)
    assert cropped.shape == images.shape
    shifted = [i for i in range(64) if not torch.equal(cropped[i], images[i])]
    assert shifted, "a random crop with padding must move some images"
    # every output pixel is an input pixel of the same image or zero padding
    assert all(set(cropped[i].flatten().tolist()) <= set(images[i].flatten().tolist()) | {0.0} for i in range(64))
