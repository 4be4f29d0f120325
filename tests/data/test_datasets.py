"""Data sets load real data into the shapes the loop expects; CIFAR-10 through torchvision's own loader."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import JOBS, make_spec
from trainworks.data.prepare import prepare_data, split_indices
from trainworks.data.types import DataError
from trainworks.spec import SpecError, validate_spec

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> Path:
    """A tiny CIFAR-10 in its own on-disk format: pickled dicts of uint8 rows (3072 = 3x32x32) and labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        entry = {"batch_label": name, "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": [int(label) for label in rng.integers(0, 10, per_batch)],
                 "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_CLASSES, "num_vis": 3072}, protocol=2))
    return root


def cifar_spec(root: Path, **dataset: object):
    return make_spec(data={"dataset": {"name": "cifar10", "root": str(root), "verify_checksums": False, **dataset}},
                     model={"name": "guide_cnn"})


def test_digits_are_real_8x8_images_split_stratified() -> None:
    data = prepare_data(make_spec().data, seed=0)
    assert data.train.x.shape[1:] == (1, 8, 8) and len(data.train) + len(data.val) == 1797
    assert data.info.classes == tuple(str(d) for d in range(10))
    assert 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0
    val_share = torch.bincount(data.val.y, minlength=10) / torch.bincount(torch.cat([data.train.y, data.val.y]))
    assert torch.allclose(val_share, torch.full((10,), 0.2), atol=0.02)


def test_digits_subset_relabels_in_the_given_order() -> None:
    data = prepare_data(make_spec(data={"dataset": {"name": "digits", "labels": [7, 3]}}).data, seed=0)
    assert data.info.classes == ("7", "3") and data.info.num_outputs == 2
    assert set(data.train.y.tolist()) == {0, 1}


def test_split_is_disjoint_complete_and_seeded() -> None:
    labels = torch.arange(100) % 4
    train, val = split_indices(labels, 100, 0.25, seed=3)
    assert len(set(train.tolist()) & set(val.tolist())) == 0 and len(train) + len(val) == 100
    assert torch.equal(split_indices(labels, 100, 0.25, seed=3)[1], val)
    assert not torch.equal(split_indices(labels, 100, 0.25, seed=4)[1], val)
    assert torch.bincount(labels[val]).tolist() == [6, 6, 6, 6] or torch.bincount(labels[val]).tolist() == [7] * 4


def test_cifar10_reads_a_tiny_file_in_cifar_format_through_torchvision(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "cifar")
    data = prepare_data(cifar_spec(root).data, seed=0)
    assert data.train.x.shape == (30, 3, 32, 32) and data.val.x.shape == (6, 3, 32, 32)
    assert data.info.classes == tuple(CIFAR_CLASSES)
    first = pickle.loads((root / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    expected = torch.tensor(first["data"][0].reshape(3, 32, 32), dtype=torch.float32) / 255
    assert torch.equal(data.train.x[0], expected) and data.train.y[0] == first["labels"][0]


def test_cifar10_verifies_checksums_by_default(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "cifar")
    with pytest.raises(RuntimeError, match="corrupted"):
        prepare_data(cifar_spec(root, verify_checksums=True).data, seed=0)


def test_cifar10_missing_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=f"no CIFAR-10 files at {tmp_path}/empty/cifar-10-batches-py"):
        cifar_spec(tmp_path / "empty")


def test_penguins_table_keeps_rows_with_gaps_and_encodes_text() -> None:
    spec = validate_spec({"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "species"},
                                   "preprocessing": ["one_hot", {"name": "impute", "strategy": "mean"}]},
                          "model": "mlp", "training": {"epochs": 1}}, base_dir=JOBS)
    data = prepare_data(spec.data, seed=0)
    assert len(data.train) + len(data.val) == 344
    assert data.info.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert "island=Biscoe" in data.info.feature_names and "sex=female" in data.info.feature_names
    assert not torch.isnan(data.train.x).any()


def test_text_columns_without_encoding_are_refused_with_advice() -> None:
    spec = validate_spec({"data": {"dataset": {"name": "table", "path": "data/penguins.csv", "target": "species"},
                                   "preprocessing": [{"name": "impute", "strategy": "most_frequent"}]},
                          "model": "mlp", "training": {"epochs": 1}}, base_dir=JOBS)
    with pytest.raises(DataError, match="island, sex hold text; add a one_hot step"):
        prepare_data(spec.data, seed=0)


def test_parquet_tables_load_like_csv(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from trainworks.data.table import read_table

    table = read_table(JOBS / "data" / "penguins.csv")
    pq.write_table(table, tmp_path / "penguins.parquet")
    spec = validate_spec({"data": {"dataset": {"name": "table", "path": str(tmp_path / "penguins.parquet"),
                                               "target": "body_mass_g", "task": "regression",
                                               "features": ["bill_length_mm", "flipper_length_mm"]},
                                   "preprocessing": ["impute", "standardize"]},
                          "model": "mlp", "loss": "mse", "training": {"epochs": 1}})
    data = prepare_data(spec.data, seed=0)
    assert data.info.task == "regression" and data.train.y.shape[1] == 1 and data.info.input_shape == (2,)
    assert len(data.train) + len(data.val) == 342  # rows without a target are dropped
