"""Batch inference on real logged models: the saved preprocessing reproduces the training inputs exactly."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from tests.conftest import JOBS, make_spec
from trainworks.cli import app
from trainworks.data.prepare import split_indices
from trainworks.data.table import read_table
from trainworks.engine.assemble import build_model
from trainworks.engine.checkpoint import latest_checkpoint
from trainworks.runtime.console import Terminal
from trainworks.runtime.job import RunOptions, checkpoint_root, prepare_job_data, run_job
from trainworks.runtime.predict import PredictError, predict
from trainworks.spec import JobSpec, load_spec
from trainworks.tracking.mlflow_tracker import MlflowTracker


@dataclass(frozen=True)
class Trained:
    """A finished inline job: its spec, store, model URI and the model rebuilt in this process from its checkpoint."""

    spec: JobSpec
    store: str
    model_uri: str
    model: torch.nn.Module


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("predict")
    before = Path.cwd()
    os.chdir(folder)  # artifacts and checkpoints of the embedded store land here
    yield folder
    os.chdir(before)


def train(spec: JobSpec, workdir: Path) -> Trained:
    store = f"sqlite:///{workdir / 'mlruns.db'}"
    summary = run_job(spec, RunOptions(JOBS / "x.yaml", inline=True), MlflowTracker(store),
                      Terminal(Console(file=io.StringIO())))
    data = prepare_job_data(spec)
    model = build_model(spec, data)
    model.load_state_dict(latest_checkpoint(checkpoint_root(spec) / summary.run_id).state["model"])
    return Trained(spec, store, f"models:/{spec.tracking.registered_model}/{summary.model_version}", model.eval())


@pytest.fixture(scope="module")
def penguins(workdir: Path) -> Trained:
    return train(load_spec(JOBS / "penguins_mlp.yaml", ["training.epochs=3", "tracking.experiment=predict-tests"]),
                 workdir)


@pytest.fixture(scope="module")
def digits(workdir: Path) -> Trained:
    spec = make_spec(data={"dataset": "digits", "preprocessing": [{"name": "resize", "size": 12},
                                                                  {"name": "normalize"}]},
                     training={"epochs": 2}, tracking={"registered_model": "digits-mlp-predict"})
    return train(spec, workdir)


def in_process_classes(trained: Trained) -> list[str]:
    """The validation split as training preprocessed it, through the checkpoint's model, in this process."""
    data = prepare_job_data(trained.spec)
    with torch.no_grad():
        best = trained.model(data.val.x).argmax(dim=1)
    return [data.info.classes[i] for i in best.tolist()]


def penguin_validation_rows() -> pa.Table:
    """The raw CSV rows (every column, the target too) that training held out for validation, in order."""
    table = read_table(JOBS / "data" / "penguins.csv")
    table = table.filter(pc.is_valid(table.column("species")))
    names = [str(v) for v in table.column("species").to_pylist()]
    classes = sorted(set(names))
    labels = torch.tensor([classes.index(name) for name in names])
    _, val_rows = split_indices(labels, len(labels), 0.25, 0)
    return table.take(pa.array(val_rows.numpy()))


def test_penguin_rows_get_the_classes_of_the_model_in_process(penguins: Trained, tmp_path: Path) -> None:
    rows = penguin_validation_rows()
    assert rows.column("sex").null_count + rows.column("bill_length_mm").null_count > 0  # imputation is exercised
    source = tmp_path / "rows.parquet"
    pq.write_table(rows.drop_columns(["species"]), source)  # inference data has no target
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(app, ["predict", penguins.model_uri, str(source), "--out", str(out),
                                      "--batch-size", "7"], env={"MLFLOW_TRACKING_URI": penguins.store})
    assert result.exit_code == 0, result.output
    assert f"{rows.num_rows} predictions of {penguins.model_uri} written to {out}" in result.output
    predicted = pacsv.read_csv(out)
    assert predicted.column_names == ["row", "prediction", "probability", "p_Adelie", "p_Chinstrap", "p_Gentoo"]
    assert predicted.column("prediction").to_pylist() == in_process_classes(penguins)
    probabilities = np.stack([predicted.column(f"p_{name}").to_numpy() for name in ("Adelie", "Chinstrap", "Gentoo")])
    assert np.allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)
    assert np.allclose(probabilities.max(axis=0), predicted.column("probability").to_numpy())
    accuracy = np.mean(np.array(predicted.column("prediction").to_pylist()) == np.array(rows.column("species")))
    assert accuracy > 0.9  # the model learnt something, so equal classes are not all one class


def test_missing_feature_columns_and_wrong_inputs_are_refused_clearly(penguins: Trained, tmp_path: Path) -> None:
    source = tmp_path / "partial.csv"
    pacsv.write_csv(penguin_validation_rows().drop_columns(["island"]), source)
    with pytest.raises(PredictError, match='preprocessing failed .*"island" does not exist.*needs the columns'):
        predict(penguins.model_uri, source, tmp_path / "p.csv", tracking_uri=penguins.store)
    np.save(tmp_path / "rows.npy", np.zeros((3, 9), dtype=np.float32))
    with pytest.raises(PredictError, match="give this model a CSV or Parquet table with its training columns"):
        predict(penguins.model_uri, tmp_path / "rows.npy", tmp_path / "p.csv", tracking_uri=penguins.store)
    with pytest.raises(PredictError, match="expected a .parquet, .pq, .csv file"):
        predict(penguins.model_uri, source, tmp_path / "p.json", tracking_uri=penguins.store)
    with pytest.raises(PredictError, match="cannot load models:/nope/1"):
        predict("models:/nope/1", source, tmp_path / "p.csv", tracking_uri=penguins.store)


def digit_validation_images() -> np.ndarray:
    """Raw digits (8x8 in [0, 1], as the data set loads them) that training held out, in order."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    labels = torch.tensor(raw.target)
    _, val_rows = split_indices(labels, len(labels), 0.2, 0)
    return (raw.images / 16.0).astype(np.float32)[val_rows.numpy()]


def test_an_npy_array_of_raw_digits_gets_the_classes_of_the_model_in_process(digits: Trained, tmp_path: Path) -> None:
    np.save(tmp_path / "digits.npy", digit_validation_images())  # N,H,W: the channel is added
    count = predict(digits.model_uri, tmp_path / "digits.npy", tmp_path / "p.parquet", batch_size=50,
                    tracking_uri=digits.store)
    predicted = pq.read_table(tmp_path / "p.parquet")
    assert count == predicted.num_rows == len(digit_validation_images())
    assert predicted.column("row").to_pylist() == list(range(count))
    assert predicted.column("prediction").to_pylist() == in_process_classes(digits)


def test_a_folder_of_png_digits_predicts_as_the_same_pixels_in_an_array(digits: Trained, tmp_path: Path) -> None:
    pixels = np.round(digit_validation_images()[:12] * 255).astype(np.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(pixels):
        Image.fromarray(image, mode="L").save(folder / f"digit_{index:02d}.png")
    (folder / "notes.txt").write_text("not an image")
    np.save(tmp_path / "same.npy", pixels)  # uint8: divided by 255, as image files are
    predict(digits.model_uri, folder, tmp_path / "folder.csv", tracking_uri=digits.store)
    predict(digits.model_uri, tmp_path / "same.npy", tmp_path / "array.csv", tracking_uri=digits.store)
    from_folder, from_array = pacsv.read_csv(tmp_path / "folder.csv"), pacsv.read_csv(tmp_path / "array.csv")
    assert from_folder.column("file").to_pylist() == [f"digit_{i:02d}.png" for i in range(12)]
    assert from_folder.column("prediction").to_pylist() == from_array.column("prediction").to_pylist()
    assert np.allclose(from_folder.column("p_3").to_numpy(), from_array.column("p_3").to_numpy(), atol=1e-6)
    classes = [str(label) for label in from_folder.column("prediction").to_pylist()]  # CSV reads "3" back as 3
    agree = np.mean(np.array(classes) == np.array(in_process_classes(digits)[:12]))
    assert agree >= 0.9  # 8-bit rounding of the pixels may flip a borderline digit, not many
