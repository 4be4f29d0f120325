"""Batch inference with a logged model: its saved preprocessing re-applied, predictions written as Parquet or CSV.

Every model trainworks logs carries `preprocessing.json` (the fitted steps, as in training) and
`data_info.json` (task, modality, input shape, class names, feature names). Inputs are raw data
as the job's data set gives it: table rows with the training columns, images in [0, 1] (a folder
of PNG / JPEG files or a `.npy` array), and go through the same steps before the model sees them.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from trainworks.data.prepare import ImagePipeline
from trainworks.data.table import TABLE_SUFFIXES, read_table, table_to_tensor
from trainworks.data.table_pipeline import pipeline_from_log
from trainworks.data.types import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")
PREDICTABLE_TASKS = ("classification", "regression")


class PredictError(ValueError):
    """Inputs or a model that batch inference cannot serve; the message says what would."""


@dataclass(frozen=True)
class LoggedModel:
    """A logged model with what inference needs to rebuild its input."""

    module: torch.nn.Module
    info: dict[str, Any]
    preprocessing: list[dict[str, Any]]


@dataclass(frozen=True)
class Inputs:
    """Model-ready inputs and the columns that say which row each came from (row number, file name)."""

    x: torch.Tensor
    keys: dict[str, list[Any]]


def load_logged_model(model_uri: str, tracking_uri: str | None = None) -> LoggedModel:
    """Download the model (pt2: no pickled code runs) and its preprocessing files from the tracking store."""
    import mlflow.artifacts
    import mlflow.pytorch
    from mlflow.exceptions import MlflowException

    from trainworks.tracking.mlflow_tracker import MlflowTracker

    store = MlflowTracker(tracking_uri)
    store.client  # noqa: B018  (points MLflow's process-wide store, which `models:/` URIs read, at ours)
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder))
        except MlflowException as error:
            raise PredictError(f"cannot load {model_uri} from {store.uri}: {error.message}") from None
        extra = local / "extra_files"
        if not (extra / "data_info.json").is_file():
            raise PredictError(f"{model_uri} has no data_info.json beside it: it was not logged by trainworks")
        module = mlflow.pytorch.load_model(str(local))
        info = json.loads((extra / "data_info.json").read_text(encoding="utf-8"))
        preprocessing = json.loads((extra / "preprocessing.json").read_text(encoding="utf-8"))
    if info["task"] not in PREDICTABLE_TASKS:
        raise PredictError(f"{model_uri} is a {info['task']} model; predict serves "
                           f"{' and '.join(PREDICTABLE_TASKS)} models")
    return LoggedModel(module, info, preprocessing)


def input_kind(path: Path) -> str:
    """'table', 'array' or 'images' (a folder), from the path."""
    if path.is_dir():
        return "images"
    if path.suffix.lower() == ".npy":
        return "array"
    if path.suffix.lower() in TABLE_SUFFIXES:
        return "table"
    raise PredictError(f"{path}: expected a CSV or Parquet table, a .npy array or a folder of images")


def table_inputs(path: Path, model: LoggedModel) -> Inputs:
    """Rows through the fitted table steps; every feature the model was trained on must be there and complete."""
    try:
        table = pipeline_from_log(model.preprocessing).apply(read_table(path))
    except DataError as error:
        raise PredictError(f"{path}: the model's preprocessing failed ({error}); the input needs the columns "
                           "the job was trained on") from None
    names = list(model.info["feature_names"])
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise PredictError(f"{path} lacks the model's features {', '.join(missing)} after preprocessing; "
                           "it needs the columns the job was trained on")
    features = table.select(names)
    incomplete = [name for name in names if pc.any(pc.is_null(features.column(name), nan_is_null=True)).as_py()]
    if incomplete:
        raise PredictError(f"{path}: {', '.join(incomplete)} still have missing values after the model's "
                           "preprocessing (it was trained without an impute step for them)")
    return Inputs(table_to_tensor(features), {"row": list(range(table.num_rows))})


def array_inputs(path: Path, model: LoggedModel) -> Inputs:
    """A .npy array: raw images (N,H,W or N,C,H,W; floats in [0, 1], uint8 divided by 255) or, for a
    table model without preprocessing, rows of its features."""
    array = np.load(path, allow_pickle=False)
    if model.info["modality"] == "image":
        return Inputs(_preprocess_images(_as_images(array, path, model), model), {"row": list(range(len(array)))})
    if model.info["modality"] == "table" and not model.preprocessing:
        return Inputs(torch.as_tensor(array, dtype=torch.float32), {"row": list(range(len(array)))})
    raise PredictError(f"{path}: a .npy array serves image models and table models without preprocessing; "
                       "give this model a CSV or Parquet table with its training columns")


def folder_inputs(path: Path, model: LoggedModel) -> Inputs:
    """PNG / JPEG files of a folder (sorted by name), read in [0, 1] with the model's channel count."""
    from PIL import Image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PredictError(f"{path} holds no {', '.join(IMAGE_SUFFIXES)} files")
    mode = "L" if model.info["input_shape"][0] == 1 else "RGB"
    images = []
    for file in files:
        with Image.open(file) as image:
            pixels = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
        images.append(_preprocess_images(_as_images(pixels[None], file, model), model))
    return Inputs(torch.cat(images), {"file": [file.name for file in files]})


def _as_images(array: np.ndarray, source: Path, model: LoggedModel) -> torch.Tensor:
    """N,C,H,W float images in [0, 1] from N,H,W / N,H,W,C (channels last from image files) / N,C,H,W."""
    channels = model.info["input_shape"][0]
    if array.ndim == 3:
        array = array[:, None] if channels == 1 else array
    if array.ndim == 4 and array.shape[1] != channels and array.shape[-1] == channels:
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] != channels:
        raise PredictError(f"{source}: images of shape {tuple(array.shape[1:])}; the model takes {channels} "
                           "channel(s): N,H,W or N,C,H,W")
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32) / scale


def _preprocess_images(images: torch.Tensor, model: LoggedModel) -> torch.Tensor:
    logged = pipeline_from_log(model.preprocessing)
    out = ImagePipeline(logged.steps, logged.states)(images)
    if tuple(out.shape[1:]) != tuple(model.info["input_shape"]):
        raise PredictError(f"images of size {tuple(images.shape[1:])} become {tuple(out.shape[1:])} after the "
                           f"model's preprocessing; it takes {tuple(model.info['input_shape'])}")
    return out


READERS: dict[str, Callable[[Path, LoggedModel], Inputs]] = {
    "table": table_inputs, "array": array_inputs, "images": folder_inputs}
SERVES = {"table": ("table", "array"), "image": ("array", "images")}


def read_inputs(path: Path, model: LoggedModel) -> Inputs:
    """The input file or folder as model-ready tensors, refused clearly when it does not fit the model."""
    kind, modality = input_kind(path), model.info["modality"]
    if kind not in SERVES.get(modality, ()):
        accepted = " or ".join(SERVES.get(modality, ())) or "nothing yet"
        raise PredictError(f"{path} is {kind} input; a model of {modality} data takes {accepted} input")
    return READERS[kind](path, model)


def run_model(module: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Outputs for every row, a batch at a time (a tuple's first element is the prediction)."""
    outputs = []
    with torch.no_grad():
        for batch in x.split(batch_size):
            output = module(batch)
            outputs.append(output[0] if isinstance(output, (tuple, list)) else output)
    return torch.cat(outputs)


def prediction_columns(outputs: torch.Tensor, info: dict[str, Any]) -> dict[str, list[Any]]:
    """Class names, their probability and every class's probability; or the predicted values."""
    if info["task"] == "classification":
        probabilities = torch.softmax(outputs.float(), dim=1)
        best = probabilities.argmax(dim=1)
        classes = list(info["classes"])
        columns: dict[str, list[Any]] = {"prediction": [classes[i] for i in best.tolist()],
                                         "probability": probabilities.max(dim=1).values.tolist()}
        columns |= {f"p_{name}": probabilities[:, i].tolist() for i, name in enumerate(classes)}
        return columns
    values = outputs.float().reshape(len(outputs), -1)
    if values.shape[1] == 1:
        return {"prediction": values[:, 0].tolist()}
    return {f"prediction_{i}": values[:, i].tolist() for i in range(values.shape[1])}


def write_predictions(columns: dict[str, list[Any]], out: Path) -> None:
    """Parquet (.parquet, .pq) or CSV (.csv), by the file's suffix."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.table(columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        pacsv.write_csv(table, out)
    else:
        pq.write_table(table, out)


def check_output(out: Path) -> None:
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise PredictError(f"--out {out}: expected a {', '.join(OUTPUT_SUFFIXES)} file")


def predict(model_uri: str, source: Path, out: Path, batch_size: int = 256, tracking_uri: str | None = None) -> int:
    """Predict every row / image of `source` with the model and write the table; returns the row count."""
    check_output(out)
    if not source.exists():
        raise PredictError(f"{source}: no such file or folder")
    input_kind(source)
    model = load_logged_model(model_uri, tracking_uri)
    inputs = read_inputs(source, model)
    outputs = run_model(model.module, inputs.x, batch_size)
    write_predictions({**inputs.keys, **prediction_columns(outputs, model.info)}, out)
    return len(outputs)
